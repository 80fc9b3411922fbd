// fcgi-pm --help, written from the flag table. Pure.

import type { ParameterFlag } from './flags';

const VALUE_NAMES: Record<ParameterFlag['kind'], string> = { boolean: '', number: 'N', string: 'VALUE' };
const VALUE_NAME_OF: Record<string, string> = {
  listen: 'ADDRESS',
  pid_fname: 'FILE',
  pm_title: 'TITLE',
  die_timeout: 'SECONDS',
  start_delay: 'SECONDS',
  log_file: 'FILE',
  access_log: 'FILE',
  access_format: 'FORMAT',
  max_memory: 'SIZE',
  reload_timeout: 'SECONDS',
  reload_warmup: 'SECONDS',
  request_terminate_timeout: 'SECONDS',
  worker_timeout: 'SECONDS',
  request_slowlog_timeout: 'SECONDS',
  process_idle_timeout: 'SECONDS',
  slowlog: 'FILE',
  status_path: 'PATH',
  ping_path: 'PATH',
  ping_response: 'TEXT',
  status_listen: 'ADDRESS',
  pm: 'MODE',
  user: 'USER',
  group: 'GROUP',
  listen_owner: 'USER',
  listen_group: 'GROUP',
  listen_mode: 'MODE',
  listen_allowed_clients: 'LIST',
};

/** `-n, --n-processes N (also --processes)`. */
export function flagSynopsis(flag: ParameterFlag): string {
  const value = flag.kind === 'boolean' ? '' : ` ${VALUE_NAME_OF[flag.param] ?? VALUE_NAMES[flag.kind]}`;
  const negation = flag.kind === 'boolean' && !flag.name.startsWith('no-') ? ` / --no-${flag.name}` : '';
  const names = [flag.short ? `-${flag.short}, ` : '    ', `--${flag.name}${value}${negation}`].join('');
  return flag.aliases.length ? `${names} (or ${flag.aliases.map((a) => `--${a}`).join(', ')})` : names;
}

export function usage(flags: readonly ParameterFlag[]): string {
  const rows: [string, string][] = flags.map((flag) => [flagSynopsis(flag), flag.description]);
  rows.push(
    ['    --config FILE', 'JSON, or a JS module exporting an object, keyed by the parameter names; flags win'],
    ['    --check-config', 'run the start\'s checks, print the effective configuration, exit 0 or 2; opens nothing'],
    ['-h, --help', 'print this help'],
    ['    --version', "print fcgi-pm's version"],
  );
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return `Usage: fcgi-pm [options] [--] app.js [app args]

Runs an unchanged node-fastcgi app (\`fcgi.createServer(handler).listen()\`) in a pool of workers.
This process is the manager: TERM/INT stop the pool gracefully, HUP replaces every worker,
USR1 reopens the log files.

Options:
${rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join('\n')}
`;
}
