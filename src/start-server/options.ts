// start_server's options: the command line (Server::Starter 0.35's), the library's option object
// (Perl's names), and their validation into Settings. Pure: no process I/O, unit-tested.
//
// Every rule that can refuse bad input is here, so start_server fails with one line and exit 2
// before it opens a file or a socket.

import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { parsePathSpec, parsePortSpec, type PathSpec, type PortSpec } from './ports';

/** The options of Perl's start_server(), with its names. */
export interface StartServerOptions {
  /** The server program and its arguments. */
  exec: string[];
  /** `port`, `host:port`, `[v6]:port`; `u` before the port for UDP; `=fd` after it to choose the fd. */
  port?: string | number | (string | number)[];
  /** Unix socket paths. */
  path?: string | string[];
  /** Directory the server program starts in. */
  dir?: string;
  /** Seconds a program that does not report readiness must stay alive to count as started (default 1). */
  interval?: number;
  /**
   * Seconds a generation that promised readiness (STARTING=1) gets to report READY=1, counted from its
   * start; then it is stopped and counts as a failed start (default 60; 0 waits for ever). Ours only.
   */
  ready_timeout?: number;
  /** Signal sent to the old generations once a new one is up after HUP (default TERM). */
  signal_on_hup?: string;
  /** Signal sent to every generation on TERM (default TERM). */
  signal_on_term?: string;
  pid_file?: string;
  status_file?: string;
  envdir?: string;
  enable_auto_restart?: boolean;
  auto_restart_interval?: number;
  kill_old_delay?: number;
  backlog?: number;
  /** A file to append to, or `| command` to pipe into. */
  log_file?: string;
  daemonize?: boolean;
}

export interface RestartServerOptions {
  pid_file?: string;
  status_file?: string;
  /**
   * `--restart` only: fail if no newer generation has appeared in the status file this many seconds
   * after the HUP (default 60; 0 waits for ever). Ours lists a generation as soon as it starts and
   * records its failure; Perl's lists it only once it is up and records nothing.
   */
  ready_timeout?: number;
}

/** Validated, normalized options of the superdaemon. */
export interface Settings {
  exec: string[];
  ports: PortSpec[];
  paths: PathSpec[];
  dir: string | undefined;
  intervalSeconds: number;
  /** 0: no limit. */
  readyTimeoutSeconds: number;
  /** Without the SIG prefix, as Perl logs them: 'TERM'. */
  signalOnHup: string;
  signalOnTerm: string;
  pidFile: string | undefined;
  statusFile: string | undefined;
  logFile: string | undefined;
  backlog: number;
  daemonize: boolean;
  /** Variables start_server sets in its own environment, as Perl does (so envdir can override them). */
  env: Record<string, string>;
}

/** Linux's SOMAXCONN since 5.4; Perl's Socket::SOMAXCONN() is the header's value (4096 on current glibc). */
export const DEFAULT_BACKLOG = 4096;

/**
 * --ready-timeout's default. A pool that comes up at all does so within seconds (a Node app loads its
 * modules, forks, and its workers accept), even on a loaded machine with cold caches; a minute leaves
 * room for that tenfold, and a deploy script still learns within a minute that the release is broken.
 * ProcManager's die_timeout is 60 s too.
 */
export const DEFAULT_READY_TIMEOUT_SECONDS = 60;

export class UsageError extends Error {}

export type Command =
  | { action: 'help' }
  | { action: 'version' }
  | { action: 'start'; options: StartServerOptions }
  | { action: 'restart'; options: RestartServerOptions }
  | { action: 'stop'; options: RestartServerOptions };

const OPTIONS = {
  port: { type: 'string', multiple: true },
  path: { type: 'string', multiple: true },
  dir: { type: 'string' },
  interval: { type: 'string' },
  'ready-timeout': { type: 'string' },
  'signal-on-hup': { type: 'string' },
  'signal-on-term': { type: 'string' },
  'pid-file': { type: 'string' },
  'status-file': { type: 'string' },
  envdir: { type: 'string' },
  'enable-auto-restart': { type: 'boolean' },
  'auto-restart-interval': { type: 'string' },
  'kill-old-delay': { type: 'string' },
  backlog: { type: 'string' },
  'log-file': { type: 'string' },
  daemonize: { type: 'boolean' },
  restart: { type: 'boolean' },
  stop: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/**
 * Parses `start_server [options] [--] program args...`. Options end at `--` or at the first word that
 * is not an option, so the program's own options need no `--` (Perl's Getopt::Long would reject them).
 */
export function parseCommandLine(argv: readonly string[]): Command {
  const split = splitAtProgram(argv);
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: split.options, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(describeParseError(err as Error & { code?: string }));
  }
  const text = (name: keyof typeof OPTIONS) => values[name] as string | undefined;
  const number = (name: keyof typeof OPTIONS) => {
    const value = text(name);
    if (value === undefined) return undefined;
    if (!/^\s*\d+(\.\d+)?\s*$/.test(value)) throw new UsageError(`--${name} must be a number of seconds, got ${JSON.stringify(value)}`);
    return Number(value);
  };
  if (values.help) return { action: 'help' };
  if (values.version) return { action: 'version' };
  if (values.restart && values.stop) throw new UsageError('--restart and --stop cannot be used together');
  if (values.restart || values.stop) {
    const action = values.restart ? 'restart' : 'stop';
    const options: RestartServerOptions = { pid_file: text('pid-file'), status_file: text('status-file') };
    if (action === 'restart') options.ready_timeout = number('ready-timeout');
    validateControlOptions(action, options);
    if (split.program.length > 0) throw new UsageError(`--${action} takes no server program`);
    return { action, options };
  }
  const backlogText = text('backlog');
  if (backlogText !== undefined && !/^\s*\d+\s*$/.test(backlogText)) {
    throw new UsageError(`--backlog must be a whole number, got ${JSON.stringify(backlogText)}`);
  }
  const options: StartServerOptions = {
    exec: split.program,
    port: values.port as string[] | undefined,
    path: values.path as string[] | undefined,
    dir: text('dir'),
    interval: number('interval'),
    ready_timeout: number('ready-timeout'),
    signal_on_hup: text('signal-on-hup'),
    signal_on_term: text('signal-on-term'),
    pid_file: text('pid-file'),
    status_file: text('status-file'),
    envdir: text('envdir'),
    enable_auto_restart: values['enable-auto-restart'] as boolean | undefined,
    auto_restart_interval: number('auto-restart-interval'),
    kill_old_delay: number('kill-old-delay'),
    backlog: backlogText === undefined ? undefined : Number(backlogText),
    log_file: text('log-file'),
    daemonize: values.daemonize as boolean | undefined,
  };
  validateStartOptions(options);
  return { action: 'start', options };
}

function splitAtProgram(argv: readonly string[]): { options: string[]; program: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { options: argv.slice(0, i), program: argv.slice(i + 1) };
    if (!arg.startsWith('-') || arg === '-') return { options: argv.slice(0, i), program: argv.slice(i) };
    const name = arg.replace(/^--?/, '');
    const spec = (OPTIONS as Record<string, { type: string }>)[name];
    if (spec?.type === 'string') i++; // `--port 5000`: the next word is the value
  }
  return { options: [...argv], program: [] };
}

function describeParseError(err: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? err.message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return option && /does not take an argument/.test(err.message)
        ? `${option} takes no value`
        : `${option ?? 'an option'} needs a value`;
    default:
      return err.message.split('\n')[0]!;
  }
}

/** Checks the options a restart or stop needs; throws UsageError. */
export function validateControlOptions(action: 'restart' | 'stop', options: RestartServerOptions): void {
  if (action === 'restart' && !(options.pid_file && options.status_file)) {
    throw new UsageError('--restart option requires --pid-file and --status-file to be set as well');
  }
  if (action === 'stop' && !options.pid_file) throw new UsageError('--stop option requires --pid-file to be set as well');
  checkSeconds('ready-timeout', options.ready_timeout);
}

function checkSeconds(name: string, value: unknown): void {
  if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
    throw new UsageError(`--${name} must be a non-negative number of seconds, got ${String(value)}`);
  }
}

/** Checks every start option; throws UsageError with a one-line message. */
export function validateStartOptions(options: StartServerOptions): Settings {
  if (!Array.isArray(options.exec) || options.exec.length === 0 || !options.exec.every((a) => typeof a === 'string')) {
    throw new UsageError('server program not specified');
  }
  if (options.exec[0] === '') throw new UsageError('server program not specified');
  const ports = listOf(options.port).map((p) => specOrUsageError(() => parsePortSpec(String(p))));
  const paths = listOf(options.path).map((p) => specOrUsageError(() => parsePathSpec(String(p))));
  checkFds(ports);
  if (options.daemonize && !options.log_file) {
    throw new UsageError('--log-file option must be specified together with --daemonize');
  }
  for (const [name, value] of [
    ['interval', options.interval],
    ['ready-timeout', options.ready_timeout],
    ['auto-restart-interval', options.auto_restart_interval],
    ['kill-old-delay', options.kill_old_delay],
  ] as const) {
    checkSeconds(name, value);
  }
  if (options.backlog !== undefined && !(Number.isInteger(options.backlog) && options.backlog > 0)) {
    throw new UsageError(`--backlog must be a positive whole number, got ${String(options.backlog)}`);
  }
  for (const [key, value] of [
    ['dir', options.dir],
    ['pid-file', options.pid_file],
    ['status-file', options.status_file],
    ['envdir', options.envdir],
    ['log-file', options.log_file],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || value === '')) throw new UsageError(`--${key} needs a value`);
  }
  if (options.log_file !== undefined && /^\s*\|\s*$/.test(options.log_file)) {
    throw new UsageError('--log-file "| command" needs a command');
  }
  const env: Record<string, string> = {};
  if (options.envdir !== undefined) env.ENVDIR = options.envdir;
  if (options.enable_auto_restart !== undefined) env.ENABLE_AUTO_RESTART = options.enable_auto_restart ? '1' : '';
  if (options.kill_old_delay !== undefined) env.KILL_OLD_DELAY = String(options.kill_old_delay);
  if (options.auto_restart_interval !== undefined) env.AUTO_RESTART_INTERVAL = String(options.auto_restart_interval);
  return {
    exec: [...options.exec],
    ports,
    paths,
    dir: options.dir,
    intervalSeconds: options.interval ?? 1,
    readyTimeoutSeconds: options.ready_timeout ?? DEFAULT_READY_TIMEOUT_SECONDS,
    signalOnHup: signalName(options.signal_on_hup ?? 'TERM', 'signal-on-hup'),
    signalOnTerm: signalName(options.signal_on_term ?? 'TERM', 'signal-on-term'),
    pidFile: options.pid_file,
    statusFile: options.status_file,
    logFile: options.log_file,
    backlog: options.backlog ?? DEFAULT_BACKLOG,
    daemonize: options.daemonize ?? false,
    env,
  };
}

function listOf<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function specOrUsageError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function checkFds(ports: PortSpec[]): void {
  const seen = new Set<number>();
  for (const p of ports) {
    if (p.fd === undefined) continue;
    if (seen.has(p.fd)) throw new UsageError(`--port ${p.name}=${p.fd}: fd ${p.fd} is given twice`);
    seen.add(p.fd);
  }
}

/** 'term', 'SIGTERM', 'Term' -> 'TERM' (Perl's normalization), checked against the signals this system has. */
export function signalName(value: string, option: string): string {
  const name = value.trim().toUpperCase().replace(/^SIG/, '');
  if (!(`SIG${name}` in os.constants.signals)) throw new UsageError(`--${option}: unknown signal ${JSON.stringify(value)}`);
  return name;
}

/** The command line that gives `options` back (the daemon is started with it). */
export function toCommandLine(options: StartServerOptions): string[] {
  const argv: string[] = [];
  const add = (name: string, value: string | number | undefined) => {
    if (value !== undefined) argv.push(`--${name}=${value}`);
  };
  for (const p of listOf(options.port)) add('port', p);
  for (const p of listOf(options.path)) add('path', p);
  add('dir', options.dir);
  add('interval', options.interval);
  add('ready-timeout', options.ready_timeout);
  add('signal-on-hup', options.signal_on_hup);
  add('signal-on-term', options.signal_on_term);
  add('pid-file', options.pid_file);
  add('status-file', options.status_file);
  add('envdir', options.envdir);
  if (options.enable_auto_restart) argv.push('--enable-auto-restart');
  add('auto-restart-interval', options.auto_restart_interval);
  add('kill-old-delay', options.kill_old_delay);
  add('backlog', options.backlog);
  add('log-file', options.log_file);
  if (options.daemonize) argv.push('--daemonize');
  return [...argv, '--', ...options.exec];
}

export const USAGE = `Usage: start_server [options] [--] server-prog server-arg1 server-arg2 ...
       start_server --restart --pid-file=FILE --status-file=FILE [--ready-timeout=seconds]
       start_server --stop --pid-file=FILE

A superdaemon for hot-deploying server programs (a port of Perl's Server::Starter 0.35).
It binds the sockets, starts the server program with them, and on SIGHUP starts a new
generation and retires the old one once the new one is up.

Options:
  --port=(port|host:port|[v6]:port)[=fd]   TCP port to listen to (repeatable); "u" before the
                               port binds UDP; "=fd" places the socket at that fd in the program
  --path=path                  unix socket to listen to (repeatable)
  --dir=path                   working directory of the server program
  --interval=seconds           how long a program that does not report readiness must live
                               to count as started (default: 1)
  --ready-timeout=seconds      how long a program that promised readiness (STARTING=1) gets
                               to report READY=1; then it is stopped and counts as a failed
                               start (default: ${DEFAULT_READY_TIMEOUT_SECONDS}; 0: no limit)
  --signal-on-hup=SIGNAL       signal for the old generation after a HUP (default: TERM)
  --signal-on-term=SIGNAL      signal for every generation on TERM (default: TERM)
  --pid-file=filename          write (and lock) the pid of start_server
  --status-file=filename       write "generation:pid" lines of the running generations, and
                               "starting:gen:pid", "failed:gen:pid:reason" for --restart
  --envdir=dir                 variables for the server program, one file each, reread on each loop
  --log-file=file              append stdout and stderr to a file
  --log-file="| cmd args..."   or pipe them into a command
  --daemonize                  run in the background (needs --log-file)
  --enable-auto-restart        restart the program every --auto-restart-interval seconds
  --auto-restart-interval=s    (default: 360)
  --kill-old-delay=seconds     wait before signalling the old generation (default: 0, or 5
                               with --enable-auto-restart)
  --backlog=size               listen backlog (default: ${DEFAULT_BACKLOG})
  --restart                    send HUP to a running start_server and wait until only the new
                               generation is left (needs --pid-file and --status-file); exit 1
                               if the new generation fails to start, or if none appears in the
                               status file within --ready-timeout
  --stop                       send TERM to a running start_server and wait until it exits
  --help                       print this help
  --version                    print the Server::Starter version this implements
`;
