// `fcgi-pm status|reload|stop|scale|top`: commands to a running pool over its control socket
// (src/control/). The pool is found by --control PATH, --pid-file FILE or --config FILE (the file it
// was started with), else by PM_CONTROL, PM_PID_FILE or systemd's $RUNTIME_DIRECTORY.
// Exit status: 0 done; 1 refused or failed (a reload abandoned); 2 bad usage; 3 no pool running;
// 4 not allowed to use its socket. `stop` passes on the manager's own exit status.

import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { controlSocketPath } from '../control/path';
import { ControlConnection, ControlError, EXIT_NOT_RUNNING } from '../control/client';
import type { ControlAnswer, ControlRequest } from '../control/protocol';
import { renderStatus } from '../control/status-text';
import { editDistance, paramsFromEnv, validateParams } from '../params';
import { describeParseError, UsageError } from './command-line';
import { readConfigFile } from './config';
import { runTop } from './top';
import { POOL_COMMANDS_USAGE } from './usage';

export const POOL_COMMANDS = ['status', 'reload', 'stop', 'scale', 'top'] as const;
export type PoolCommand = (typeof POOL_COMMANDS)[number];

export function isPoolCommand(word: string | undefined): word is PoolCommand {
  return (POOL_COMMANDS as readonly string[]).includes(word ?? '');
}

/** The command a first word that is no file most likely meant (`stauts`): said instead of "no such app". */
export function likelyCommand(word: string): PoolCommand | undefined {
  return POOL_COMMANDS.find((command) => closeTo(word, command));
}

/** The options every command takes: which pool, how long to wait, help. */
const COMMON_OPTIONS = {
  control: { type: 'string' },
  'pid-file': { type: 'string' },
  config: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Each command's own options. */
const OWN_OPTIONS = {
  status: { json: { type: 'boolean' } },
  reload: { 'no-wait': { type: 'boolean' } },
  stop: {},
  scale: {},
  top: {},
} as const satisfies Record<PoolCommand, Record<string, { type: 'boolean' | 'string' }>>;

const OPTIONS = { ...COMMON_OPTIONS, ...OWN_OPTIONS.status, ...OWN_OPTIONS.reload } as const;

/**
 * How long a command waits for its answer by default, in seconds (0: as long as it takes). A reload
 * ends by itself (reload_timeout), a stop by die_timeout; a status must not hang on a stopped manager.
 */
const DEFAULT_TIMEOUT: Record<PoolCommand, number> = { status: 10, scale: 10, top: 10, reload: 0, stop: 0 };

export async function runPoolCommand(command: PoolCommand, argv: readonly string[]): Promise<number> {
  let socketPath: string;
  let request: ControlRequest | undefined;
  let values: Partial<Record<keyof typeof OPTIONS, string | boolean>>;
  try {
    const parsed = parseCommand(command, argv);
    values = parsed.values;
    if (values.help) {
      process.stdout.write(POOL_COMMANDS_USAGE);
      return 0;
    }
    socketPath = await findControlSocket(values);
    request = parsed.request;
  } catch (err) {
    process.stderr.write(`fcgi-pm ${command}: ${(err as Error).message.split('\n')[0]}; see fcgi-pm ${command} --help\n`);
    return 2;
  }
  try {
    const timeoutMs = 1000 * (typeof values.timeout === 'string' ? Number(values.timeout) : DEFAULT_TIMEOUT[command]);
    if (command === 'top') return await runTop(socketPath, timeoutMs);
    return await send(command, socketPath, request!, { json: values.json === true, timeoutMs });
  } catch (err) {
    process.stderr.write(`fcgi-pm ${command}: ${(err as Error).message}\n`);
    // LSB: stopping a service that is not running succeeds (so do systemctl stop and init scripts).
    if (command === 'stop' && err instanceof ControlError && err.exitStatus === EXIT_NOT_RUNNING) return 0;
    return err instanceof ControlError ? err.exitStatus : 1;
  }
}

/** The command's options and its request. Pure; throws UsageError. */
export function parseCommand(command: PoolCommand, argv: readonly string[]): { values: Partial<Record<keyof typeof OPTIONS, string | boolean>>; request: ControlRequest | undefined } {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
  } catch (err) {
    // `scale -1` reads as an option: the count is what is wrong.
    if (command === 'scale' && /'-\d/.test((err as Error).message)) throw new UsageError('scale takes one number of workers, 1 or more: fcgi-pm scale N');
    const known = [...Object.keys(COMMON_OPTIONS), ...Object.keys(OWN_OPTIONS[command])];
    throw new UsageError(describeParseError(err as Error & { code?: string }, (name) => known.find((option) => closeTo(name, option))));
  }
  const { values, positionals } = parsed;
  for (const name of Object.keys(values)) {
    if (name in COMMON_OPTIONS || name in OWN_OPTIONS[command]) continue;
    throw new UsageError(`--${name} is not an option of ${command}`);
  }
  if (values.timeout !== undefined && !/^\d+(\.\d+)?$/.test(values.timeout)) throw new UsageError(`--timeout takes seconds, 0 or more, got ${values.timeout}`);
  if (command === 'scale') {
    const [count, ...rest] = positionals;
    if (count === undefined || rest.length > 0 || !/^\d+$/.test(count) || Number(count) < 1) throw new UsageError('scale takes one number of workers, 1 or more: fcgi-pm scale N');
    return { values, request: { cmd: 'scale', workers: Number(count) } };
  }
  if (positionals.length > 0) throw new UsageError(`${command} takes no argument, got ${positionals[0]}`);
  const requests: Record<Exclude<PoolCommand, 'scale'>, ControlRequest | undefined> = {
    status: { cmd: 'status' },
    reload: { cmd: 'reload', wait: values['no-wait'] !== true },
    stop: { cmd: 'stop' },
    top: undefined,
  };
  return { values, request: requests[command] };
}

/** `pidfile` for `pid-file`, `contrl` for `control`: the same letters but for a dash, or two edits away. */
export function closeTo(given: string, name: string): boolean {
  if (given.replace(/-/g, '') === name.replace(/-/g, '')) return true;
  return editDistance(given, name) <= 2;
}

/** The control socket of the pool the options name. Throws UsageError when they name none. */
async function findControlSocket(values: Partial<Record<keyof typeof OPTIONS, string | boolean>>): Promise<string> {
  const given = [values.control && '--control', values['pid-file'] && '--pid-file', values.config && '--config'].filter(Boolean);
  if (given.length > 1) throw new UsageError(`${given.join(' and ')} both name a pool: give one`);
  if (typeof values.control === 'string') return path.resolve(values.control);
  if (typeof values['pid-file'] === 'string') return controlSocketPath({ pid_fname: values['pid-file'] })!;
  const [params, from] =
    typeof values.config === 'string' ? [await socketParamsOf(values.config), `--config ${values.config}`] : [validateParams(paramsFromEnv()), 'the environment'];
  const found = controlSocketPath(params);
  if (found === undefined) {
    throw new UsageError(
      values.config === undefined
        ? 'which pool? give --control PATH, --pid-file FILE or --config FILE'
        : `${from} gives neither control nor pid_fname: the pool it starts has no control socket to find`,
    );
  }
  return found;
}

/** How long `stop` waits, after the manager's answer, for the manager to be gone (its end of the socket closed). */
const EXIT_WAIT_MS = 5_000;

/**
 * The parameters of a config file that say where the pool's control socket is; the rest of the file is
 * not checked here, so a pool whose file was broken since it started can still be reloaded (and told
 * why that is refused), or stopped.
 */
async function socketParamsOf(file: string): Promise<{ control?: string | false | undefined; pid_fname?: string | undefined }> {
  const loaded = await readConfigFile(file);
  if (typeof loaded !== 'object' || loaded === null) return {};
  const { control, pid_fname } = loaded as Record<string, unknown>;
  try {
    return validateParams({ control, pid_fname });
  } catch (err) {
    throw new UsageError(`--config ${file}: ${(err as Error).message}`);
  }
}

async function send(command: PoolCommand, socketPath: string, request: ControlRequest, { json, timeoutMs }: { json: boolean; timeoutMs: number }): Promise<number> {
  const connection = await ControlConnection.open(socketPath);
  let answer: ControlAnswer;
  try {
    answer = await connection.request(request, timeoutMs);
    // The stop answer is written as the manager exits; its end closes when the process is gone.
    if (answer.ok && answer.cmd === 'stop') await connection.closedByManager(EXIT_WAIT_MS);
  } finally {
    connection.close();
  }
  if (!answer.ok) {
    process.stderr.write(`fcgi-pm ${command}: ${answer.error}\n`);
    return 1;
  }
  switch (answer.cmd) {
    case 'status':
      process.stdout.write(json ? `${JSON.stringify({ manager: answer.manager, pool: answer.pool }, null, 2)}\n` : renderStatus(answer.manager, answer.pool));
      return 0;
    case 'reload':
      process.stdout.write(answer.complete ? `reload complete: generation ${answer.generation} in ${answer.seconds} s\n` : `reloading: generation ${answer.generation}\n`);
      return 0;
    case 'stop':
      process.stdout.write(`stopped: the manager exited with status ${answer.exitStatus}\n`);
      return answer.exitStatus;
    case 'scale':
      process.stdout.write(`${answer.message}\n`);
      return 0;
  }
}
