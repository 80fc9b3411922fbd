// fcgi-pm's flags for ProcManager's parameters, derived from the parameter list (KNOWN_PARAMS), so a
// parameter added to params.ts gets its flag without a change here. Pure: unit-tested.

import { KNOWN_PARAMS, validateParameter } from '../params';

/** How a flag's value is written: a switch, a number, or text. Read off the parameter's validator. */
export type FlagKind = 'boolean' | 'number' | 'string';

export interface ParameterFlag {
  /** The parameter, with Perl's name: `n_processes`. */
  param: string;
  /** Its flag in kebab-case, without dashes: `n-processes`. */
  name: string;
  /** Other long names for it, without dashes. */
  aliases: readonly string[];
  /** A one-letter flag, if it has one. */
  short: string | undefined;
  kind: FlagKind;
  description: string;
}

/**
 * Parameters that are not configuration: `role` is set by manage() itself, and a `logger` is an
 * object in the app's code, which neither a flag nor a JSON file can hold (and which the workers,
 * each in its own process, could not share).
 */
const INTERNAL_PARAMS = new Set(['role', 'logger']);

/** Why a parameter that is not configurable cannot be set in fcgi-pm, when there is more to say. */
export const NOT_CONFIGURABLE_BECAUSE: Record<string, string> = {
  logger: 'logger is for the library (new ProcManager({ logger })); fcgi-pm logs to stderr, or to --log-file',
};

/** The names users know from other tools (gunicorn's --pid, spawn-fcgi's -n, php-fpm's listen). */
const ALIASES: Record<string, { aliases?: string[]; short?: string }> = {
  n_processes: { aliases: ['processes'], short: 'n' },
  listen: { short: 'l' },
  pid_fname: { aliases: ['pid-file'] },
  pm_title: { aliases: ['title'] },
};

const DESCRIPTIONS: Record<string, string> = {
  n_processes: 'workers to keep alive (default: the number of CPUs)',
  die_timeout: 'seconds to wait for workers after TERM before KILL (default 60; 0: for ever)',
  start_delay: 'seconds between two forks (default 0)',
  pid_fname: "the manager's pid file",
  no_signals: 'leave signal handling to the application',
  pm_title: "the manager's process title (default node-fcgi-pm)",
  listen: "unix socket path, host:port or port; a socket inherited on fd 0, from start_server or systemd wins",
  reload_surge: 'on HUP, new workers started at once beyond n_processes (default n_processes)',
  reload_timeout: "seconds a reload's new workers have to accept before it is abandoned (default 30; 0: no bound)",
  reload_warmup: 'seconds a new worker accepts beside the one it replaces before that one retires (default 1)',
  boot_nice: 'nice steps lower a replacement worker boots at while the workers it replaces serve (default 10; 0: off)',
  max_requests: 'recycle a worker after this many requests (default 0: never)',
  max_requests_jitter: "raise each worker's max_requests by a random 0..N (default 0)",
  max_memory: 'recycle a worker whose RSS passes this: bytes, or 300M, 1G (default 0: never)',
  log_file: "append the log (the pool's lines, the workers' stdout and stderr) here; USR1 reopens it",
  log_timestamps: 'begin each log line with an ISO 8601 time',
  access_log: 'append one line per request here, in --access-format; USR1 reopens it',
  request_terminate_timeout: 'seconds a request may run before its worker ends it with a 503 (default 0: no limit)',
  worker_timeout: 'KILL a worker whose event loop sends no heartbeat for this many seconds (default 0: off)',
  request_slowlog_timeout: "log a request still running after this many seconds, with the worker's JavaScript stack (default 0: off)",
  slowlog: 'the slow log file (default: the log)',
  status_path: 'the status page, matched on SCRIPT_NAME, e.g. /status (default: off)',
  ping_path: 'the ping page, matched on SCRIPT_NAME, e.g. /ping (default: off)',
  ping_response: "the ping page's body (default pong)",
  status_listen: 'the manager answers status and ping over HTTP here: a unix path or 127.0.0.1:PORT',
  status_listen_public: 'allow --status-listen on an address that is not loopback',
  pm: 'static (n_processes workers), dynamic or ondemand (n_processes is the maximum)',
  process_idle_timeout: 'pm ondemand: seconds a worker may idle before it retires (default 10)',
  start_servers: 'pm dynamic: workers at start',
  min_spare_servers: 'pm dynamic: fewer idle workers than this and more start',
  max_spare_servers: 'pm dynamic: more idle workers than this and one retires each second',
  max_spawn_rate: 'pm dynamic: the most workers started in one second (default 32)',
  user: 'as root: the workers run as this user, with its groups',
  group: "as root: the workers' group (default: the user's primary group)",
  listen_owner: "a unix socket's owner: a user name or uid",
  listen_group: "a unix socket's group: a group name or gid",
  listen_mode: "a unix socket's mode, octal (default 0660)",
  listen_backlog: 'the listen backlog of a socket fcgi-pm opens (default 511)',
  listen_allowed_clients: 'TCP: the client addresses allowed, comma-separated (default: all)',
  access_format: 'the access log line, with PHP-FPM tokens (default \'%R - %u %t "%m %r" %s\')',
};

export type Validate = (key: string, value: unknown) => unknown;

/** `n_processes` -> `n-processes`. */
export function kebabCase(param: string): string {
  return param.replace(/_/g, '-');
}

/**
 * What kind of value a parameter takes, found by asking its validator: one that turns `true`/`false`
 * into themselves is a switch; one that turns the string '1' into the number 1 takes a number.
 */
export function flagKind(param: string, validate: Validate = validateParameter): FlagKind {
  const accepts = (value: unknown): unknown => {
    try {
      return validate(param, value);
    } catch {
      return undefined;
    }
  };
  if (accepts(true) === true && accepts(false) === false) return 'boolean';
  if (accepts('1') === 1) return 'number';
  return 'string';
}

/** One flag per parameter of `params` (default: every ProcManager parameter but the internal ones). */
export function parameterFlags(params: readonly string[] = KNOWN_PARAMS, validate: Validate = validateParameter): ParameterFlag[] {
  return params
    .filter((param) => !INTERNAL_PARAMS.has(param))
    .map((param) => ({
      param,
      name: kebabCase(param),
      aliases: ALIASES[param]?.aliases ?? [],
      short: ALIASES[param]?.short,
      kind: flagKind(param, validate),
      description: DESCRIPTIONS[param] ?? `the ProcManager parameter ${param}`,
    }));
}

/** True for a parameter a user may set (in a flag or in a config file). */
export function isConfigurable(param: string): boolean {
  return (KNOWN_PARAMS as readonly string[]).includes(param) && !INTERNAL_PARAMS.has(param);
}
