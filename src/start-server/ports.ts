// The socket specs of `--port`/`--path`, and SERVER_STARTER_PORT, the variable that tells a server
// program where its sockets are. Pure: parsing and formatting only, unit-tested.
//
// The formats are Server::Starter 0.35's, so that a program written for Perl's start_server finds its
// sockets under the same names: `5000=3`, `127.0.0.1:5000=3`, `[::1]:5000=3`, `/path/to.sock=4`,
// ports first, then paths, joined by ';'.

export interface PortSpec {
  kind: 'tcp' | 'udp';
  /** undefined: every IPv4 address (Perl binds a bare port to 0.0.0.0 only, for compatibility). */
  host: string | undefined;
  family: 4 | 6;
  port: number;
  /** The name in SERVER_STARTER_PORT, formatted as Perl formats it. */
  name: string;
  /** `port=fd`: the fd number the server program finds the socket at. */
  fd: number | undefined;
}

export interface PathSpec {
  kind: 'unix';
  /** As given: Perl writes a relative path into SERVER_STARTER_PORT unchanged. */
  path: string;
  name: string;
  fd: undefined;
}

export type SocketSpec = PortSpec | PathSpec;

/** Parses one `--port` value: `port`, `host:port`, `[v6]:port`, each optionally `u`-prefixed (UDP) and `=fd`-suffixed. */
export function parsePortSpec(text: string): PortSpec {
  const bare = /^\s*(u?)(\d+)(?:\s*=(\d+))?\s*$/.exec(text);
  if (bare) {
    return {
      kind: bare[1] ? 'udp' : 'tcp',
      host: undefined,
      family: 4,
      port: portNumber(bare[2]!, text),
      name: bare[2]!,
      fd: fdNumber(bare[3], text),
    };
  }
  // Perl's pattern: brackets are optional, and the host is everything up to the last ':' before the port.
  const hostPort = /^\s*(?:\[\s*|)([^\]]*?)\s*(?:\]\s*|):\s*(u?)(\d+)(?:\s*=(\d+))?\s*$/.exec(text);
  if (hostPort && hostPort[1] !== '') {
    const host = hostPort[1]!;
    const v6 = host.includes(':');
    if (v6 && !isIPv6Literal(host)) throw new TypeError(`invalid --port value ${JSON.stringify(text)}: not an IPv6 address`);
    return {
      kind: hostPort[2] ? 'udp' : 'tcp',
      host,
      family: v6 ? 6 : 4,
      port: portNumber(hostPort[3]!, text),
      name: v6 ? `[${host}]:${hostPort[3]}` : `${host}:${hostPort[3]}`,
      fd: fdNumber(hostPort[4], text),
    };
  }
  throw new TypeError(`invalid --port value ${JSON.stringify(text)}; use port, host:port or [v6]:port`);
}

export function parsePathSpec(text: string): PathSpec {
  if (text === '') throw new TypeError('--path needs a socket path');
  return { kind: 'unix', path: text, name: text, fd: undefined };
}

function portNumber(digits: string, text: string): number {
  const n = Number(digits);
  if (n > 65535) throw new RangeError(`invalid --port value ${JSON.stringify(text)}: port out of range`);
  return n;
}

function fdNumber(digits: string | undefined, text: string): number | undefined {
  if (digits === undefined) return undefined;
  const n = Number(digits);
  if (n > 1023) throw new RangeError(`invalid --port value ${JSON.stringify(text)}: fd ${n} is too large`);
  return n;
}

function isIPv6Literal(host: string): boolean {
  // net.isIPv6 would do, but this module stays free of node imports; a loose check suffices here
  // because the bind reports anything the kernel refuses.
  return /^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(host);
}

/** `name=fd;name=fd`, as Perl's start_server writes it. */
export function encodeServerStarterPort(entries: readonly { name: string; fd: number }[]): string {
  return entries.map((e) => `${e.name}=${e.fd}`).join(';');
}

/**
 * The sockets named in SERVER_STARTER_PORT, in order. The fd is after the last '=' (Perl splits at the
 * first, which misreads a unix path that contains '='; the two agree on every other value).
 */
export function decodeServerStarterPort(value: string): { name: string; fd: number }[] {
  const entries: { name: string; fd: number }[] = [];
  for (const part of value.split(';')) {
    const at = part.lastIndexOf('=');
    if (at < 0) continue;
    const fd = part.slice(at + 1);
    if (!/^\d+$/.test(fd)) continue;
    entries.push({ name: part.slice(0, at), fd: Number(fd) });
  }
  return entries;
}

/**
 * Server::Starter's server_ports(): { 'host:port' | 'port' | 'path': 'fd' }. Throws, as Perl dies, when
 * the process was not started by start_server.
 */
export function serverPorts(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const value = env.SERVER_STARTER_PORT;
  if (value === undefined) {
    throw new Error('no environment variable SERVER_STARTER_PORT. Did you start the process using server_starter?');
  }
  const ports: Record<string, string> = {};
  for (const { name, fd } of decodeServerStarterPort(value)) ports[name] = String(fd);
  return ports;
}
