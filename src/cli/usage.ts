// fcgi-pm --help, written from the flag table, grouped by the parameters' sections. Pure.

import { SECTIONS } from '../params';
import { negatedName, type ParameterFlag } from './flags';

/** `-n, --n-processes N (or --processes)`. */
export function flagSynopsis(flag: ParameterFlag): string {
  const value = flag.isSwitch ? '' : ` ${flag.placeholder}`;
  const negated = negatedName(flag);
  const negation = negated ? ` / --${negated}` : '';
  const names = [flag.short ? `-${flag.short}, ` : '    ', `--${flag.name}${value}${negation}`].join('');
  return flag.aliases.length ? `${names} (or ${flag.aliases.map((a) => `--${a}`).join(', ')})` : names;
}

export const POOL_COMMANDS_USAGE = `Commands to a running pool (over its control socket):
  fcgi-pm status [--json]      the pool and each worker; exit 3 when no pool runs
  fcgi-pm reload [--no-wait]   a rolling reload; returns once it is complete (0) or abandoned (1)
  fcgi-pm stop                 a graceful stop; returns when the manager has exited, with its status
  fcgi-pm scale N              N workers (pm static), or max_children N (dynamic, ondemand)
  fcgi-pm top                  a live view, refreshed every second; q or Ctrl-C leaves it
Which pool: --control PATH, --pid-file FILE or --config FILE (the one it was started with);
else PM_CONTROL, PM_PID_FILE or $RUNTIME_DIRECTORY, as the pool itself finds its socket.
--timeout SECONDS: how long to wait for the answer (0: as long as it takes; status, scale and top
wait 10 s, reload and stop as long as the pool's reload_timeout and die_timeout let them).
`;

const COMMAND_OPTIONS: [string, string][] = [
  ['    --config FILE', 'JSON, or a JS module exporting an object, keyed by the parameter names; flags win'],
  ['    --check-config', "run the start's checks, print the effective configuration, exit 0 or 2; opens nothing"],
  ['-h, --help', 'print this help'],
  ['    --version', "print fcgi-pm's version"],
];

export function usage(flags: readonly ParameterFlag[]): string {
  const groups: [string, [string, string][]][] = [['Options', COMMAND_OPTIONS]];
  for (const [section, title] of Object.entries(SECTIONS)) {
    const rows = flags.filter((f) => f.section === section).map((f): [string, string] => [flagSynopsis(f), f.description]);
    if (rows.length > 0) groups.push([title, rows]);
  }
  const width = Math.max(...groups.flatMap(([, rows]) => rows.map(([left]) => left.length))) + 2;
  const text = groups.map(([title, rows]) => `${title}:\n${rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join('\n')}\n`);
  return `Usage: fcgi-pm [options] [--] app.js [app args]
       fcgi-pm status|reload|stop|scale|top [--control PATH | --pid-file FILE | --config FILE]

Runs an unchanged node-fastcgi app (\`fcgi.createServer(handler).listen()\`) in a pool of workers.
This process is the manager: TERM/INT stop the pool gracefully, HUP replaces every worker,
USR1 reopens the log files. Every option is described in docs/configuration.md.

${text.join('\n')}
${POOL_COMMANDS_USAGE}`;
}
