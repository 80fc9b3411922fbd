// access_format: PHP-FPM's access.format tokens, compiled once into a function that writes one line
// per request. Pure: the worker gathers an AccessEntry (worker/access-log.ts), this formats it.
//
// %p is the worker's pid and %P its manager's, as in PHP-FPM ("PID of the child that serviced the
// request" / "of the parent of the child"). %C and %M (per-request CPU and peak memory) are refused:
// a Node worker serves many requests at once, so a process figure would not be the request's.

import { compileStrftime, DEFAULT_TIME_FORMAT } from './strftime';

/** What one line can show about a request that has ended. */
export interface AccessEntry {
  /** The FastCGI param (or, without FastCGI, the environment variable) `name`. */
  param(name: string): string | undefined;
  /** The response header `name`, as the application set it. */
  responseHeader(name: string): string | undefined;
  method: string;
  /** The request URI as the web server sent it, query string included. */
  uri: string;
  remoteAddr: string | undefined;
  status: number;
  /** When the request came and when it ended, in ms since the epoch. */
  startedAtMs: number;
  endedAtMs: number;
  durationMs: number;
  pid: number;
  ppid: number;
  pool: string;
}

/** PHP-FPM's default access.format. */
export const DEFAULT_ACCESS_FORMAT = '%R - %u %t "%m %r" %s';

type Piece = (entry: AccessEntry) => string;

const NEWLINE = /[\r\n]/;
const NEWLINES = /[\r\n]/g;

const orDash = (value: string | undefined): string => (value === undefined || value === '' ? '-' : value);

function queryOf(entry: AccessEntry): string {
  const at = entry.uri.indexOf('?');
  return entry.param('QUERY_STRING') ?? (at < 0 ? '' : entry.uri.slice(at + 1));
}

function duration(unit: string | undefined): Piece {
  switch (unit) {
    case undefined:
    case 'seconds':
      return (e) => (e.durationMs / 1000).toFixed(3);
    case 'milliseconds':
    case 'milli':
    case 'miliseconds':
    case 'mili':
      return (e) => e.durationMs.toFixed(3);
    case 'microseconds':
    case 'micro':
      return (e) => String(Math.round(e.durationMs * 1000));
    default:
      throw new TypeError(`%{${unit}}d: the unit must be seconds, milliseconds (milli) or microseconds (micro)`);
  }
}

function time(argument: string | undefined, which: 'startedAtMs' | 'endedAtMs'): Piece {
  const format = compileStrftime(argument ?? DEFAULT_TIME_FORMAT);
  // No conversion is finer than a second, so one formatting serves every request of that second.
  let second = NaN;
  let text = '';
  return (e) => {
    const s = Math.floor(e[which] / 1000);
    if (s !== second) {
      second = s;
      text = format(new Date(s * 1000));
    }
    return text;
  };
}

function needsName(token: string, argument: string | undefined, what: string): string {
  if (!argument) throw new TypeError(`%${token} needs a name in braces, such as %{${what}}${token}`);
  return argument;
}

/** One token: its letter, and the argument in `%{...}` before it, if any. */
function piece(token: string, argument: string | undefined): Piece {
  switch (token) {
    case '%':
      return () => '%';
    case 'd':
      return duration(argument);
    case 'e': {
      const name = needsName(token, argument, 'HTTP_HOST');
      return (e) => orDash(e.param(name));
    }
    case 'f':
      return (e) => orDash(e.param('SCRIPT_FILENAME'));
    case 'l':
      return (e) => e.param('CONTENT_LENGTH') || '0';
    case 'm':
      return (e) => e.method;
    case 'n':
      return (e) => e.pool;
    case 'o': {
      const name = needsName(token, argument, 'Content-Type');
      return (e) => orDash(e.responseHeader(name));
    }
    case 'p':
      return (e) => String(e.pid);
    case 'P':
      return (e) => String(e.ppid);
    case 'q':
      return queryOf;
    case 'Q':
      return (e) => (queryOf(e) ? '?' : '');
    case 'r':
      return (e) => {
        const at = e.uri.indexOf('?');
        return at < 0 ? e.uri : e.uri.slice(0, at);
      };
    case 'R':
      return (e) => orDash(e.remoteAddr);
    case 's':
      return (e) => String(e.status);
    case 't':
      return time(argument, 'startedAtMs');
    case 'T':
      return time(argument, 'endedAtMs');
    case 'u':
      return (e) => e.param('REMOTE_USER') ?? ''; // empty, not '-', as PHP-FPM writes it
    case 'C':
    case 'M':
      throw new TypeError(`%${token} (per-request ${token === 'C' ? 'CPU' : 'memory'}) is not available: a Node worker serves many requests at once`);
    default:
      throw new TypeError(`unknown token %${token} (known: %d %e %f %l %m %n %o %p %P %q %Q %r %R %s %t %T %u %%)`);
  }
}

export type AccessFormatter = (entry: AccessEntry) => string;

/** Compiles an access_format; throws a TypeError that names the token it cannot write. */
export function compileAccessFormat(format: string): AccessFormatter {
  const pieces: Piece[] = [];
  const pattern = /%(?:\{([^}]*)\})?(.?)/g;
  let last = 0;
  for (let m = pattern.exec(format); m; m = pattern.exec(format)) {
    if (m.index > last) {
      const literal = format.slice(last, m.index);
      pieces.push(() => literal);
    }
    if (m[2] === '') throw new TypeError(`"${format}" ends in the middle of a token`);
    pieces.push(piece(m[2]!, m[1]));
    last = pattern.lastIndex;
  }
  if (last < format.length) {
    const literal = format.slice(last);
    pieces.push(() => literal);
  }
  return (entry) => {
    let line = '';
    for (const p of pieces) line += p(entry);
    // A line is a line: a newline in a URI or header must not start a forged one.
    return NEWLINE.test(line) ? line.replace(NEWLINES, (c) => (c === '\n' ? '\\n' : '\\r')) : line;
  };
}
