// The kinds of value a parameter takes: how each is checked and normalized, what it is called in
// --help (its placeholder) and in the reference, and whether its flag is a switch. Pure.

import { isIP } from 'node:net';
import { compileAccessFormat } from '../log/access-format';
import type { Logger } from '../log/log';
import { parseListenSpec } from '../socket/address';

/** Where the workers accept connections: see `parseListenSpec` in socket/address.ts. */
export type ListenSpec = string | number | { fd: number };

/** 'manager' or 'server' (Perl's word for a worker, kept because pm_parameter('role') returns it). */
export type Role = 'manager' | 'server';

export type ProcessManagerMode = 'static' | 'dynamic' | 'ondemand';

/**
 * One kind of value. `In` is what a caller may pass (numbers may also come as strings, because
 * values often come from the environment); `Out` is the value once checked.
 */
export interface ValueType<In, Out> {
  /** Returns the normalized value, or throws a TypeError/RangeError naming `key`. */
  validate(value: unknown, key: string): Out;
  /** In --help: `--die-timeout SECONDS`. */
  placeholder: string;
  /** A switch is a flag without a value (and its --no- form). */
  isSwitch: boolean;
  /** In the reference: what is accepted, in a few words. */
  accepts: string;
  /** Values given twice (a flag repeated, a file and a flag) add up, the later one winning name by name, instead of replacing. */
  merges?: boolean;
  /** Only carries `In` for the derived parameter types; never set. */
  readonly input?: In;
}

function type<In, Out>(spec: Omit<ValueType<In, Out>, 'isSwitch' | 'input'> & { isSwitch?: boolean }): ValueType<In, Out> {
  return { isSwitch: false, ...spec };
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

function toNumber(value: unknown, key: string): number {
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

/** undefined, null and '' mean "not set": handy for optional environment variables. */
function unset(value: unknown): value is undefined | null | '' {
  return value === undefined || value === null || value === '';
}

export const count = type<number | string, number>({ validate: nonNegativeInteger, placeholder: 'N', accepts: 'a whole number, 0 or more' });

export const positiveCount = type<number | string, number>({
  validate(value, key) {
    const n = nonNegativeInteger(value, key);
    if (n === 0) throw new RangeError(`${key} must be at least 1, got 0`);
    return n;
  },
  placeholder: 'N',
  accepts: 'a whole number, 1 or more',
});

export const seconds = type<number | string, number>({ validate: nonNegativeNumber, placeholder: 'SECONDS', accepts: 'seconds, 0 or more (fractions allowed)' });

export const positiveSeconds = type<number | string, number>({
  validate(value, key) {
    const n = nonNegativeNumber(value, key);
    if (n === 0) throw new RangeError(`${key} must be more than 0, got 0`);
    return n;
  },
  placeholder: 'SECONDS',
  accepts: 'seconds, more than 0',
});

export const niceSteps = type<number | string, number>({
  validate(value, key) {
    const n = nonNegativeInteger(value, key);
    if (n > 19) throw new RangeError(`${key} must be from 0 to 19 (nice steps), got ${n}`);
    return n;
  },
  placeholder: 'STEPS',
  accepts: 'a whole number from 0 to 19',
});

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off', '']);

/** A boolean, or its usual spellings in an environment variable; anything else is refused. */
export const onOff = type<boolean | number | string, boolean>({
  validate(value, key) {
    if (typeof value === 'boolean') return value;
    if (value === 1 || value === 0) return value === 1;
    if (typeof value === 'string') {
      const word = value.trim().toLowerCase();
      if (TRUE_WORDS.has(word)) return true;
      if (FALSE_WORDS.has(word)) return false;
    }
    throw new TypeError(`${key} must be true or false (or 'true'/'false', '1'/'0', 'yes'/'no', 'on'/'off'), got ${describe(value)}`);
  },
  placeholder: '',
  isSwitch: true,
  accepts: "true or false ('1'/'0', 'yes'/'no', 'on'/'off')",
});

export const file = type<string, string | undefined>({
  validate(value, key) {
    if (unset(value)) return undefined;
    if (typeof value !== 'string') throw new TypeError(`${key} must be a file name, got ${describe(value)}`);
    return value;
  },
  placeholder: 'FILE',
  accepts: 'a file name',
});

/** A unix socket's path, or 'off' (false) where a default would apply. */
export const socketPathOrOff = type<string | false, string | false | undefined>({
  validate(value, key) {
    if (unset(value)) return undefined;
    if (value === false || value === 'off') return false;
    if (typeof value !== 'string') throw new TypeError(`${key} must be a socket path or 'off', got ${describe(value)}`);
    // sockaddr_un holds 108 bytes with the terminating NUL: a longer path cannot be bound.
    if (Buffer.byteLength(value) > 107) throw new RangeError(`${key}: a unix socket path holds at most 107 bytes, got ${Buffer.byteLength(value)}`);
    return value;
  },
  placeholder: 'PATH',
  accepts: "a unix socket path, or 'off'",
});

export const text = type<string, string>({
  validate(value, key) {
    if (typeof value !== 'string' || value === '') throw new TypeError(`${key} must be a non-empty string, got ${describe(value)}`);
    return value;
  },
  placeholder: 'TEXT',
  accepts: 'a non-empty string',
});

export const role = type<Role, Role>({
  validate(value, key) {
    if (value !== 'manager' && value !== 'server') throw new TypeError(`${key} must be 'manager' or 'server', got ${describe(value)}`);
    return value;
  },
  placeholder: 'ROLE',
  accepts: "'manager' or 'server'",
});

export const listenAddress = type<ListenSpec, ListenSpec | undefined>({
  validate(value, key) {
    if (unset(value)) return undefined;
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
  },
  placeholder: 'ADDRESS',
  accepts: "a unix socket path, 'host:port', a port, or { fd } in code",
});

export const statusAddress = type<string | number, string | number | undefined>({
  validate(value, key) {
    if (unset(value)) return undefined;
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
  },
  placeholder: 'ADDRESS',
  accepts: "a unix socket path or 'host:port'",
});

export const loggerObject = type<Logger, Logger | undefined>({
  validate(value, key) {
    if (value === undefined || value === null) return undefined;
    const missing = ['info', 'warn', 'error'].filter((m) => typeof (value as Record<string, unknown> | null)?.[m] !== 'function');
    if (typeof value !== 'object' || missing.length > 0) {
      throw new TypeError(`${key} must be an object with info, warn and error methods (pino, console), got ${describe(value)}${typeof value === 'object' ? ` without ${missing.join(', ')}` : ''}`);
    }
    return value as Logger;
  },
  placeholder: 'LOGGER',
  accepts: 'an object with info, warn and error methods',
});

export const urlPath = type<string, string | undefined>({
  validate(value, key) {
    if (unset(value)) return undefined;
    if (typeof value !== 'string' || !value.startsWith('/') || /[?#\s]/.test(value)) {
      throw new TypeError(`${key} must be a path such as '/status' (it is matched on SCRIPT_NAME), got ${describe(value)}`);
    }
    return value;
  },
  placeholder: 'PATH',
  accepts: "a URL path such as '/status'",
});

export const processManagerMode = type<ProcessManagerMode, ProcessManagerMode>({
  validate(value, key) {
    if (value === 'static' || value === 'dynamic' || value === 'ondemand') return value;
    throw new TypeError(`${key} must be 'static', 'dynamic' or 'ondemand', got ${describe(value)}`);
  },
  placeholder: 'MODE',
  accepts: "'static', 'dynamic' or 'ondemand'",
});

function nameOrId(value: unknown, key: string): string | number | undefined {
  if (unset(value)) return undefined;
  if (typeof value === 'number') return nonNegativeInteger(value, key);
  if (typeof value === 'string' && /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(value)) return /^\d+$/.test(value) ? Number(value) : value;
  throw new TypeError(`${key} must be a name or a numeric id, got ${describe(value)}`);
}

export const userName = type<string | number, string | number | undefined>({ validate: nameOrId, placeholder: 'USER', accepts: 'a user name or uid' });

export const groupName = type<string | number, string | number | undefined>({ validate: nameOrId, placeholder: 'GROUP', accepts: 'a group name or gid' });

export const fileMode = type<string | number, number>({
  validate(value, key) {
    if (typeof value === 'string' && /^0?[0-7]{3,4}$/.test(value.trim())) return parseInt(value.trim(), 8);
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0o7777) return value;
    throw new TypeError(`${key} must be an octal mode such as '0660' (or a number such as 0o660), got ${describe(value)}`);
  },
  placeholder: 'MODE',
  accepts: "an octal mode such as '0660'",
});

export const addressList = type<string | string[], string[] | undefined>({
  validate(value, key) {
    if (unset(value)) return undefined;
    const items: unknown[] | undefined = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
    if (!items) throw new TypeError(`${key} must be a list of IP addresses or a comma-separated string, got ${describe(value)}`);
    const addresses: string[] = [];
    for (const item of items) {
      const a = typeof item === 'string' ? item.trim() : item;
      if (a === '') continue;
      if (typeof a !== 'string' || isIP(a) === 0) throw new TypeError(`${key}: ${describe(a)} is not an IP address`);
      addresses.push(a);
    }
    return addresses;
  },
  placeholder: 'LIST',
  accepts: 'IP addresses, a list or comma-separated',
});

export const accessFormat = type<string, string>({
  validate(value, key) {
    const format = text.validate(value, key);
    try {
      compileAccessFormat(format);
    } catch (err) {
      throw new TypeError(`${key}: ${(err as Error).message}`);
    }
    return format;
  },
  placeholder: 'FORMAT',
  accepts: "PHP-FPM's access.format tokens",
});

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

export const bytes = type<number | string, number>({ validate: byteSize, placeholder: 'SIZE', accepts: "bytes, or a size such as '300M' or '1G'" });

/** Options that make node do something else than run the worker: refused in node_args. */
const NOT_FOR_A_WORKER = new Set(['-e', '--eval', '-p', '--print', '-c', '--check', '-i', '--interactive', '--test', '--watch', '--watch-path', '--run', '-v', '--version', '-h', '--help', '--v8-options']);

/** One of a few words. */
function oneOf<const W extends string>(words: readonly W[], placeholder: string) {
  return type<W, W>({
    validate(value, key) {
      if (typeof value === 'string' && (words as readonly string[]).includes(value)) return value as W;
      throw new TypeError(`${key} must be ${words.map((w) => `'${w}'`).join(' or ')}, got ${describe(value)}`);
    },
    placeholder,
    accepts: words.map((w) => `'${w}'`).join(' or '),
  });
}

export const logFormat = oneOf(['text', 'json'], 'FORMAT');

/** Files or folders: a list, or one string split at commas. */
export const pathList = type<string | readonly string[], readonly string[] | undefined>({
  validate(value, key) {
    if (unset(value)) return undefined;
    const items: unknown[] | undefined = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
    if (!items) throw new TypeError(`${key} must be a list of paths or a comma-separated string, got ${describe(value)}`);
    const paths = items.map((item) => (typeof item === 'string' ? item.trim() : item)).filter((item) => item !== '');
    if (!paths.every((p): p is string => typeof p === 'string')) throw new TypeError(`${key} must hold paths, got ${describe(value)}`);
    return paths;
  },
  placeholder: 'PATHS',
  accepts: 'files or folders, a list or comma-separated',
});

/** What the manager and node:cluster give each worker: not the user's to set. */
const RESERVED_VARIABLES = /^(FCGI_PM_|NODE_UNIQUE_ID$|NODE_CHANNEL_FD$|NODE_CHANNEL_SERIALIZATION_MODE$)/;

/** Environment variables: an object of names and values, or one `NAME=VALUE` (a flag, repeated). */
export const environment = type<Readonly<Record<string, string | number | boolean>> | string, Readonly<Record<string, string>>>({
  validate(value, key) {
    const entries: [string, unknown][] | undefined =
      typeof value === 'string'
        ? value.includes('=') ? [[value.slice(0, value.indexOf('=')), value.slice(value.indexOf('=') + 1)]] : undefined
        : typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.entries(value) : undefined;
    if (!entries) throw new TypeError(`${key} must be an object of variables, or NAME=VALUE, got ${describe(value)}`);
    const variables: Record<string, string> = {};
    for (const [name, v] of entries) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TypeError(`${key}: ${describe(name)} is not a variable name`);
      if (RESERVED_VARIABLES.test(name)) throw new TypeError(`${key}: ${name} is the pool's own (how the manager talks to its workers)`);
      if (!['string', 'number', 'boolean'].includes(typeof v)) throw new TypeError(`${key}: ${name} must be a string, got ${describe(v)}`);
      variables[name] = String(v);
    }
    return variables;
  },
  placeholder: 'NAME=VALUE',
  accepts: 'an object of variables; a flag takes NAME=VALUE, repeated',
  merges: true,
});

/** Node options for the workers: a list, or one string split at spaces. Each word an option or its value. */
export const nodeOptions = type<string | readonly string[], readonly string[]>({
  validate(value, key) {
    const words: unknown[] | undefined = Array.isArray(value) ? value : typeof value === 'string' ? value.trim().split(/\s+/).filter((w) => w !== '') : undefined;
    if (!words || !words.every((w): w is string => typeof w === 'string' && w !== '')) {
      throw new TypeError(`${key} must be node options, a list or a string such as '--max-old-space-size=512 --enable-source-maps', got ${describe(value)}`);
    }
    if (words.length > 0 && !words[0]!.startsWith('-')) throw new TypeError(`${key}: ${describe(words[0])} is not a node option (the app is given to fcgi-pm, not here)`);
    const refused = words.find((w) => NOT_FOR_A_WORKER.has(w.split('=')[0]!));
    if (refused) throw new TypeError(`${key}: ${refused} would make node do something else than run the worker`);
    return words;
  },
  placeholder: 'ARGS',
  accepts: 'node options, a list or space-separated',
});
