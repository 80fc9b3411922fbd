// Parameters of a ProcManager, with Perl's names, and their validation.
// Pure: no process I/O, so every rule is unit-tested in milliseconds.

import { compileAccessFormat, DEFAULT_ACCESS_FORMAT } from './log/access-format';
import type { Logger } from './log/log';
import { isIP } from 'node:net';
import { parseListenSpec } from './socket/address';

/** Where the workers accept connections: see `parseListenSpec` in socket/address.ts. */
export type ListenSpec = string | number | { fd: number };

export type Role = 'manager' | 'server';

/**
 * Constructor and `manage()` parameters. The names are FCGI::ProcManager's. Numbers and booleans may
 * also be given as strings, because values often come from the environment (`process.env.WORKERS`).
 */
export interface ProcManagerParams {
  /** Number of workers. 0 means no manager: the calling process serves requests itself. */
  n_processes?: number | string;
  /** Seconds the manager waits for workers after TERM before it KILLs them and exits 1. 0 waits forever (as Perl). */
  die_timeout?: number | string;
  /** Seconds to sleep between two forks. */
  start_delay?: number | string;
  /** Path of the manager's pid file. */
  pid_fname?: string;
  /** Leave signal handling to the application. Strings: 'true'/'false', '1'/'0', 'yes'/'no', 'on'/'off'. */
  no_signals?: boolean | number | string;
  /** Process title of the manager (FCGI::ProcManager 0.28's `pm_title`). Workers are titled `node-fcgi`. */
  pm_title?: string;
  /** 'manager' or 'server'; set by `manage()`. */
  role?: Role;
  /** Not in Perl (there FCGI opens the socket): where to listen when no socket is inherited. */
  listen?: ListenSpec;
  /** Rolling reload: new workers started at once beyond n_processes (default n_processes). */
  reload_surge?: number | string;
  /** Seconds a reload's new workers have to accept before the reload is abandoned (default 30; 0: no bound). */
  reload_timeout?: number | string;
  /** Seconds a new worker accepts alongside the one it replaces before that one retires (default 1). */
  reload_warmup?: number | string;
  /** How much lower (in nice steps, 0-19) a replacement worker boots while the workers it replaces serve (default 10; 0: off). */
  boot_nice?: number | string;
  /** A worker is recycled after serving this many requests (0: never). */
  max_requests?: number | string;
  /** Each worker's max_requests is raised by a random 0..max_requests_jitter, so they do not recycle together. */
  max_requests_jitter?: number | string;
  /** A worker whose resident memory passes this is recycled: bytes, or '300M', '1G' (0: never). */
  max_memory?: number | string;
  /** Where the library's lines go instead of stderr: any object with info, warn and error (pino, console). */
  logger?: Logger;
  /** Append the log (the manager's and workers' lines, and the workers' stdout and stderr) to this file. USR1 reopens it. */
  log_file?: string;
  /** Begin each log line with an ISO 8601 time. */
  log_timestamps?: boolean | number | string;
  /** Append one line per request to this file, in access_format. USR1 reopens it. */
  access_log?: string;
  /** The access log's line, with PHP-FPM's access.format tokens (default '%R - %u %t "%m %r" %s'). */
  access_format?: string;
  /** Seconds a request may be in flight before its worker ends it with a 503 (0: no limit; PHP-FPM's name). */
  request_terminate_timeout?: number | string;
  /** Seconds without a heartbeat after which the manager KILLs a worker: a blocked event loop (0: off; gunicorn's timeout). */
  worker_timeout?: number | string;
  /** Seconds after which a request in flight gets a slow-log entry with the worker's JavaScript stack (0: off). */
  request_slowlog_timeout?: number | string;
  /** The slow log's file (default: the log, stderr or log_file). */
  slowlog?: string;
  /** The pool's status page, matched on SCRIPT_NAME (PHP-FPM's pm.status_path), e.g. '/status'. */
  status_path?: string;
  /** The ping page, matched on SCRIPT_NAME (PHP-FPM's ping.path), e.g. '/ping'. */
  ping_path?: string;
  /** The ping page's body (default 'pong'). */
  ping_response?: string;
  /** The manager answers status and ping itself over HTTP here: a unix path or a loopback 'host:port'. */
  status_listen?: string | number;
  /** Allow status_listen on an address that is not loopback (?full shows request URIs). */
  status_listen_public?: boolean | number | string;
  /** How the pool is sized (PHP-FPM's pm): 'static' (n_processes workers); 'dynamic' and 'ondemand' (n_processes is the maximum). */
  pm?: 'static' | 'dynamic' | 'ondemand';
  /** pm = dynamic: workers at start (default min_spare_servers + (max_spare_servers - min_spare_servers) / 2). */
  start_servers?: number | string;
  /** pm = dynamic: fewer idle workers than this and more are started. */
  min_spare_servers?: number | string;
  /** pm = dynamic: more idle workers than this and one retires each second. */
  max_spare_servers?: number | string;
  /** pm = dynamic: the most workers started in one second (default 32). */
  max_spawn_rate?: number | string;
  /** pm = ondemand: seconds a worker may idle before it retires (default 10). */
  process_idle_timeout?: number | string;
  /** The workers run as this user (a name or uid), with its groups, when the manager runs as root. */
  user?: string | number;
  /** The workers' group (default: the user's primary group). */
  group?: string | number;
  /** A unix socket's owner: a user name or uid (PHP-FPM's listen.owner). */
  listen_owner?: string | number;
  /** A unix socket's group: a group name or gid (listen.group). */
  listen_group?: string | number;
  /** A unix socket's mode: an octal string such as '0660' (the default), or a number (listen.mode). */
  listen_mode?: string | number;
  /** The listen backlog of a socket the manager opens (default 511; listen.backlog). */
  listen_backlog?: number | string;
  /** TCP: the client addresses allowed to connect, a list or comma-separated (listen.allowed_clients). */
  listen_allowed_clients?: string | string[];
}

export const DEFAULT_PARAMS = {
  role: 'manager',
  start_delay: 0,
  die_timeout: 60,
  pm_title: 'node-fcgi-pm',
  reload_timeout: 30,
  reload_warmup: 1,
  boot_nice: 10,
  max_requests: 0,
  max_requests_jitter: 0,
  max_memory: 0,
  log_timestamps: false,
  access_format: DEFAULT_ACCESS_FORMAT,
  request_terminate_timeout: 0,
  worker_timeout: 0,
  request_slowlog_timeout: 0,
  ping_response: 'pong',
  status_listen_public: false,
  pm: 'static',
  max_spawn_rate: 32,
  listen_mode: 0o660,
  listen_backlog: 511,
} as const;

export const WORKER_TITLE = 'node-fcgi';

type Validator = (value: unknown, key: string) => unknown;

function toNumber(value: unknown, key: string): number {
  // Numeric strings are accepted because parameters often come from the environment.
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw new TypeError(`${key} must be a number, got ${describe(value)}`);
  }
  return n;
}

function nonNegativeNumber(value: unknown, key: string): number {
  const n = toNumber(value, key);
  if (n < 0) throw new RangeError(`${key} must not be negative, got ${n}`);
  return n;
}

function nonNegativeInteger(value: unknown, key: string): number {
  const n = nonNegativeNumber(value, key);
  if (!Number.isInteger(n)) throw new RangeError(`${key} must be a whole number, got ${n}`);
  return n;
}

/** A nice increment: a whole number from 0 to 19. */
function niceSteps(value: unknown, key: string): number {
  const n = nonNegativeInteger(value, key);
  if (n > 19) throw new RangeError(`${key} must be from 0 to 19 (nice steps), got ${n}`);
  return n;
}

function optionalPath(value: unknown, key: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new TypeError(`${key} must be a file name, got ${describe(value)}`);
  return value;
}

function nonEmptyString(value: unknown, key: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`${key} must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function role(value: unknown, key: string): Role {
  if (value !== 'manager' && value !== 'server') {
    throw new TypeError(`${key} must be 'manager' or 'server', got ${describe(value)}`);
  }
  return value;
}

function listenSpec(value: unknown, key: string): ListenSpec | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  let spec: ListenSpec;
  if (typeof value === 'string') spec = value;
  else if (typeof value === 'number') spec = nonNegativeInteger(value, key);
  else if (typeof value === 'object' && typeof (value as { fd?: unknown }).fd === 'number') {
    spec = { fd: nonNegativeInteger((value as { fd: number }).fd, `${key}.fd`) };
  } else {
    throw new TypeError(`${key} must be a unix socket path, 'host:port', a port or { fd }, got ${describe(value)}`);
  }
  parseListenSpec(spec); // throws on what cannot be parsed; the text is kept, resolved when bound
  return spec;
}

function positiveNumber(value: unknown, key: string): number {
  const n = nonNegativeNumber(value, key);
  if (n === 0) throw new RangeError(`${key} must be more than 0, got 0`);
  return n;
}

function positiveInteger(value: unknown, key: string): number {
  const n = nonNegativeInteger(value, key);
  if (n === 0) throw new RangeError(`${key} must be at least 1, got 0`);
  return n;
}

function loggerObject(value: unknown, key: string): Logger | undefined {
  if (value === undefined || value === null) return undefined;
  const missing = ['info', 'warn', 'error'].filter((m) => typeof (value as Record<string, unknown> | null)?.[m] !== 'function');
  if (typeof value !== 'object' || missing.length > 0) {
    throw new TypeError(`${key} must be an object with info, warn and error methods (pino, console), got ${describe(value)}${typeof value === 'object' ? ` without ${missing.join(', ')}` : ''}`);
  }
  return value as Logger;
}

function urlPath(value: unknown, key: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !value.startsWith('/') || /[?#\s]/.test(value)) {
    throw new TypeError(`${key} must be a path such as '/status' (it is matched on SCRIPT_NAME), got ${describe(value)}`);
  }
  return value;
}

function statusListen(value: unknown, key: string): string | number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new TypeError(`${key} must be a unix socket path or a loopback 'host:port', got ${describe(value)}`);
  }
  let address: ReturnType<typeof parseListenSpec>;
  try {
    address = parseListenSpec(value);
  } catch (err) {
    throw new TypeError((err as Error).message.replace(/^listen/, key));
  }
  if (address.kind === 'fd') throw new TypeError(`${key} must be a unix socket path or a loopback 'host:port'`);
  return value;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false; // every address
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function processManagerMode(value: unknown, key: string): 'static' | 'dynamic' | 'ondemand' {
  if (value === 'static' || value === 'dynamic' || value === 'ondemand') return value;
  throw new TypeError(`${key} must be 'static', 'dynamic' or 'ondemand', got ${describe(value)}`);
}

function userOrId(value: unknown, key: string): string | number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number') return nonNegativeInteger(value, key);
  if (typeof value === 'string' && /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(value)) return /^\d+$/.test(value) ? Number(value) : value;
  throw new TypeError(`${key} must be a name or a numeric id, got ${describe(value)}`);
}

function fileMode(value: unknown, key: string): number {
  if (typeof value === 'string' && /^0?[0-7]{3,4}$/.test(value.trim())) return parseInt(value.trim(), 8);
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0o7777) return value;
  throw new TypeError(`${key} must be an octal mode such as '0660' (or a number such as 0o660), got ${describe(value)}`);
}

function addressList(value: unknown, key: string): string[] | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
  if (!items) throw new TypeError(`${key} must be a list of IP addresses or a comma-separated string, got ${describe(value)}`);
  const addresses = items.map((a) => (typeof a === 'string' ? a.trim() : a)).filter((a) => a !== '');
  for (const a of addresses) {
    if (typeof a !== 'string' || isIP(a) === 0) throw new TypeError(`${key}: ${describe(a)} is not an IP address`);
  }
  return addresses as string[];
}

function accessFormat(value: unknown, key: string): string {
  const format = nonEmptyString(value, key);
  try {
    compileAccessFormat(format);
  } catch (err) {
    throw new TypeError(`${key}: ${(err as Error).message}`);
  }
  return format;
}

const BYTE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** A size in bytes: a number, or a string such as '300M', '1G', '512K' (binary units, as PHP's). */
export function byteSize(value: unknown, key: string): number {
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?\s*$/i.exec(value);
    if (!m) throw new TypeError(`${key} must be a number of bytes or a size such as '300M' or '1G', got ${describe(value)}`);
    return Math.round(Number(m[1]) * BYTE_UNITS[m[2]!.toUpperCase()]!);
  }
  return nonNegativeInteger(value, key);
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off', '']);

/** A boolean, or its usual spellings in an environment variable; anything else is refused. */
function flag(value: unknown, key: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  throw new TypeError(`${key} must be true or false (or 'true'/'false', '1'/'0', 'yes'/'no', 'on'/'off'), got ${describe(value)}`);
}

const VALIDATORS: Record<keyof ProcManagerParams, Validator> = {
  n_processes: nonNegativeInteger,
  die_timeout: nonNegativeNumber,
  start_delay: nonNegativeNumber,
  pid_fname: optionalPath,
  no_signals: flag,
  pm_title: nonEmptyString,
  role,
  listen: listenSpec,
  reload_surge: positiveInteger,
  reload_timeout: nonNegativeNumber,
  reload_warmup: nonNegativeNumber,
  boot_nice: niceSteps,
  max_requests: nonNegativeInteger,
  max_requests_jitter: nonNegativeInteger,
  max_memory: byteSize,
  logger: loggerObject,
  log_file: optionalPath,
  log_timestamps: flag,
  access_log: optionalPath,
  access_format: accessFormat,
  request_terminate_timeout: nonNegativeNumber,
  worker_timeout: nonNegativeNumber,
  request_slowlog_timeout: nonNegativeNumber,
  slowlog: optionalPath,
  status_path: urlPath,
  ping_path: urlPath,
  ping_response: nonEmptyString,
  status_listen: statusListen,
  status_listen_public: flag,
  pm: processManagerMode,
  start_servers: positiveInteger,
  min_spare_servers: positiveInteger,
  max_spare_servers: positiveInteger,
  max_spawn_rate: positiveInteger,
  process_idle_timeout: positiveNumber,
  user: userOrId,
  group: userOrId,
  listen_owner: userOrId,
  listen_group: userOrId,
  listen_mode: fileMode,
  listen_backlog: positiveInteger,
  listen_allowed_clients: addressList,
};

export const KNOWN_PARAMS = Object.keys(VALIDATORS) as (keyof ProcManagerParams)[];

/**
 * Returns the normalized value of one parameter, or throws a TypeError/RangeError naming it.
 * Unknown keys are kept as they are (Perl's pm_parameter stores anything), unless the key looks
 * like a typo of a known one: then the error suggests the right name.
 */
export function validateParameter(key: string, value: unknown): unknown {
  const validate = VALIDATORS[key as keyof ProcManagerParams];
  if (validate) return validate(value, key);
  const suggestion = likelyMeant(key);
  if (suggestion) throw new TypeError(`unknown parameter '${key}' (did you mean '${suggestion}'?)`);
  return value;
}

/** Validates a whole parameter object; returns the normalized copy. */
export function validateParams(params: object | undefined): Record<string, unknown> {
  if (params === undefined || params === null) return {};
  if (typeof params !== 'object' || Array.isArray(params)) {
    throw new TypeError(`parameters must be an object, got ${describe(params)}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(params)) {
    // undefined means "not given", so the default stays (handy for optional environment variables)
    if (value !== undefined) out[key] = validateParameter(key, value);
  }
  return out;
}

/**
 * The rules that join two parameters, checked once all are known (after the defaults are merged).
 * Throws naming both.
 */
export function checkParamCombinations(params: Record<string, unknown>): void {
  if (params.logger && params.log_file) {
    throw new TypeError('logger and log_file exclude each other: a logger writes where it is configured to');
  }
  if (params.slowlog && !(Number(params.request_slowlog_timeout) > 0)) {
    throw new TypeError('slowlog needs request_slowlog_timeout: without it no request is ever slow');
  }
  if (params.status_path && params.status_path === params.ping_path) {
    throw new TypeError(`status_path and ping_path must differ, both are ${String(params.status_path)}`);
  }
  if (params.status_listen !== undefined && !params.status_listen_public) {
    const address = parseListenSpec(params.status_listen as string | number);
    if (address.kind === 'tcp' && !isLoopbackHost(address.host)) {
      throw new TypeError(
        `status_listen ${String(params.status_listen)} is not a loopback address, and ?full shows every request's URI: ` +
          'use 127.0.0.1:PORT or a unix path, or set status_listen_public to serve it there',
      );
    }
  }
  if (params.logger && params.log_timestamps) {
    throw new TypeError('logger and log_timestamps exclude each other: a logger stamps its own lines');
  }
}

/** What other process managers call our parameters (gunicorn, PHP-FPM, PM2, unicorn, Puma). */
const OTHER_MANAGERS_NAMES: Record<string, keyof ProcManagerParams> = {
  workers: 'n_processes',
  num_workers: 'n_processes',
  worker_processes: 'n_processes',
  processes: 'n_processes',
  instances: 'n_processes',
  max_children: 'n_processes',
  pm_max_children: 'n_processes',
  graceful_timeout: 'die_timeout',
  max_requests_per_child: 'max_requests',
  pm_max_requests: 'max_requests',
  max_memory_restart: 'max_memory',
  pidfile: 'pid_fname',
  pid_file: 'pid_fname',
  proc_name: 'pm_title',
  title: 'pm_title',
  bind: 'listen',
  socket: 'listen',
  error_log: 'log_file',
  pm_status_path: 'status_path',
  pm_start_servers: 'start_servers',
  pm_min_spare_servers: 'min_spare_servers',
  pm_max_spare_servers: 'max_spare_servers',
  pm_max_spawn_rate: 'max_spawn_rate',
  pm_process_idle_timeout: 'process_idle_timeout',
  backlog: 'listen_backlog',
  allowed_clients: 'listen_allowed_clients',
  errorlog: 'log_file',
  accesslog: 'access_log',
  timeout: 'worker_timeout',
  request_timeout: 'request_terminate_timeout',
  request_slowlog: 'request_slowlog_timeout',
  slowlog_timeout: 'request_slowlog_timeout',
  access_log_format: 'access_format',
  access_logformat: 'access_format',
};

/** The known parameter that `key` most likely misspells, or that another manager calls `key`, if any. */
export function likelyMeant(key: string): string | undefined {
  const normalized = key.toLowerCase().replace(/[-.]/g, '_');
  const alias = OTHER_MANAGERS_NAMES[normalized];
  if (alias) return alias;
  let best: { name: string; distance: number } | undefined;
  for (const name of KNOWN_PARAMS) {
    const distance = normalized === name ? 0 : editDistance(normalized, name);
    if (distance <= 2 && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}
