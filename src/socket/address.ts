// Listen addresses: how the `listen` parameter is written, parsed and shown. Pure (no I/O), so the
// parameter is checked in the constructor, long before anything binds.

import * as path from 'node:path';
import type { ListenSpec } from '../params';

export type ListenAddress =
  | { kind: 'fd'; fd: number }
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string | undefined; port: number };

/**
 * Parses where to listen. A number or digits is a port on all addresses (as PHP-FPM's `listen = 9000`);
 * 'host:port' and '[v6]:port' are TCP; a path with a '/' (or 'unix:path') is a unix socket, made
 * absolute against `cwd`; { fd } is an already listening socket.
 */
export function parseListenSpec(spec: ListenSpec, cwd: string = process.cwd()): ListenAddress {
  if (typeof spec === 'object') return { kind: 'fd', fd: spec.fd };
  const text = String(spec).trim();
  if (/^\d+$/.test(text)) return { kind: 'tcp', host: undefined, port: port(text, spec) };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (scheme && scheme[1]!.toLowerCase() !== 'unix') {
    const rest = text.slice(scheme[0].length).replace(/\/+$/, '');
    throw new TypeError(`listen: ${JSON.stringify(spec)} is a URL; write the address alone, e.g. '${rest}'`);
  }
  if (text.startsWith('unix:') || text.includes('/')) {
    const file = text.startsWith('unix:') ? text.slice('unix:'.length) : text;
    if (file === '') throw new TypeError(`listen: no socket path in ${JSON.stringify(spec)}`);
    return { kind: 'unix', path: path.resolve(cwd, file) };
  }
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (v6) return { kind: 'tcp', host: v6[1], port: port(v6[2]!, spec) };
  const hostPort = /^([^:]*):(\d+)$/.exec(text);
  if (hostPort) {
    const host = hostPort[1] === '' || hostPort[1] === '*' ? undefined : hostPort[1];
    return { kind: 'tcp', host, port: port(hostPort[2]!, spec) };
  }
  throw new TypeError(
    `listen: cannot parse ${JSON.stringify(spec)}; use a unix socket path, 'host:port', '[v6]:port' or a port`,
  );
}

function port(digits: string, spec: ListenSpec): number {
  const n = Number(digits);
  if (n > 65535) throw new RangeError(`listen: port out of range in ${JSON.stringify(spec)}`);
  return n;
}

export function describeListen(address: ListenAddress): string {
  switch (address.kind) {
    case 'fd':
      return `fd ${address.fd}`;
    case 'unix':
      return `unix:${address.path}`;
    case 'tcp':
      return formatHostPort(address.host ?? '*', address.port);
  }
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
