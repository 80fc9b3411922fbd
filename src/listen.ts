// The listening socket: where it comes from, and how workers accept on it.
//
// As in Perl's FCGI::ProcManager, the manager owns the socket and workers accept on their own copy.
// The manager never accepts, and it keeps the socket open while workers come and go, so a connection
// that arrives while every worker is being replaced (HUP) waits in the kernel's backlog instead of
// being refused. A naive node:cluster pool loses those: the primary closes its shared handle when the
// last worker leaves (see shared/notes/listening-socket.md).

import { spawnSync } from 'node:child_process';
import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as util from 'node:util';
import type { ListenSpec } from './params';
import { optionalPosix } from './posix';
import { takeInheritedSocket } from './start-server/inherited';

export type ListenAddress =
  | { kind: 'fd'; fd: number }
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string | undefined; port: number };

/** Node's default backlog, also nginx's and PHP-FPM's. */
export const DEFAULT_BACKLOG = 511;

/** The fd number at which a worker finds the manager's socket (systemd's first fd, too). */
export const WORKER_LISTEN_FD = 3;
/** Tells a worker that its manager passed it a socket at WORKER_LISTEN_FD. */
export const WORKER_LISTEN_FD_ENV = 'FCGI_PM_LISTEN_FD';

/**
 * Parses where to listen. A number or digits is a port on all addresses (as PHP-FPM's `listen = 9000`);
 * 'host:port' and '[v6]:port' are TCP; a path with a '/' (or 'unix:path') is a unix socket, made
 * absolute against `cwd`; { fd } is an already listening socket.
 */
export function parseListenSpec(spec: ListenSpec, cwd: string = process.cwd()): ListenAddress {
  if (typeof spec === 'object') return { kind: 'fd', fd: spec.fd };
  const text = String(spec).trim();
  if (/^\d+$/.test(text)) return { kind: 'tcp', host: undefined, port: port(text, spec) };
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
      return address.host?.includes(':') ? `[${address.host}]:${address.port}` : `${address.host ?? '*'}:${address.port}`;
  }
}

/**
 * True if `fd` is a socket in the listening state. Node has no getsockopt(); posix-node's gives
 * SO_ACCEPTCONN. Without posix-node, /proc/net tells the same for TCP and unix sockets.
 * (A connected socket must not pass: a child spawned with stdio pipes has a socketpair on fd 0.)
 */
export function isListeningSocket(fd: number): boolean {
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch {
    return false;
  }
  if (!stat.isSocket()) return false;
  const posix = optionalPosix();
  if (posix) {
    try {
      return posix.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, 4).readInt32LE(0) !== 0;
    } catch {
      return false;
    }
  }
  return listeningInodes().has(stat.ino);
}

const SOL_SOCKET = 1; // Linux
const SO_ACCEPTCONN = 30; // Linux

/** Inodes of the listening sockets in /proc/net/{tcp,tcp6,unix}. */
function listeningInodes(): Set<number> {
  const inodes = new Set<number>();
  const rows = (file: string): string[][] => {
    try {
      return fs.readFileSync(file, 'utf8').trim().split('\n').slice(1).map((line) => line.trim().split(/\s+/));
    } catch {
      return [];
    }
  };
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const cols of rows(file)) if (cols[3] === '0A') inodes.add(Number(cols[9])); // 0A = TCP_LISTEN
  }
  for (const cols of rows('/proc/net/unix')) {
    if ((parseInt(cols[3] ?? '0', 16) & 0x10000) !== 0) inodes.add(Number(cols[6])); // __SO_ACCEPTCON
  }
  return inodes;
}

/**
 * The address to listen on: an inherited listening socket wins over the `listen` parameter: on fd 0
 * (FCGI_LISTENSOCK_FILENO, as web servers and spawn-fcgi pass it), else the first socket of
 * start_server's SERVER_STARTER_PORT, else systemd's LISTEN_FDS (whose variables are unset here, so
 * the workers do not take them for their own); otherwise none.
 */
export function resolveListenAddress(spec: ListenSpec | undefined): ListenAddress | undefined {
  if (isListeningSocket(0)) return { kind: 'fd', fd: 0 };
  const inherited = takeInheritedSocket();
  if (inherited) return { kind: 'fd', fd: inherited.fd };
  return spec === undefined ? undefined : parseListenSpec(spec);
}

/** A socket the manager holds for its workers. */
export interface ManagerSocket {
  fd: number;
  /** What `describeListen` says, with the port the kernel chose when port 0 was asked for. */
  description: string;
}

/**
 * Opens the manager's socket: bound and listening, so connections queue in the kernel from the first
 * moment, but not watched by this process's event loop, so the manager never accepts.
 */
export async function openManagerSocket(address: ListenAddress): Promise<ManagerSocket> {
  if (address.kind === 'fd') {
    if (!isListeningSocket(address.fd)) throw new Error(`listen: fd ${address.fd} is not a listening socket`);
    return { fd: address.fd, description: describeListen(address) };
  }
  const what = `listen ${describeListen(address)}`;
  let handle: BoundHandle;
  if (address.kind === 'unix') {
    await removeStaleSocket(address.path);
    handle = bindServerHandle(address.path, -1, -1, 0, what);
    removeOnExit(address.path);
  } else {
    const host = address.host === undefined ? undefined : await resolveHost(address.host);
    handle = bindServerHandle(host?.address ?? null, address.port, host?.family ?? 4, 0, what);
  }
  heldHandles.push(handle); // the fd lives as long as its handle; keep it from being collected
  listenWithoutAccepting([handle.fd], DEFAULT_BACKLOG);
  return { fd: handle.fd, description: describeBound(address, handle) };
}

/** The part of node's internal TCP/Pipe handle that is used here. */
export interface BoundHandle {
  fd: number;
  close(): void;
  getsockname?(out: Record<string, unknown>): number;
}

const heldHandles: BoundHandle[] = [];

/**
 * Binds a TCP (`port` >= 0) or unix (`port` -1, `host` the path) socket without listening. This is
 * net._createServerHandle, what node:cluster's primary uses to open shared sockets: unlike every public
 * API it does not start the event loop's accept watcher. An error reads `${what}: EADDRINUSE`.
 */
export function bindServerHandle(host: string | null, port: number, family: number, flags: number, what: string): BoundHandle {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') throw new Error(`${what}: this Node.js has no net._createServerHandle`);
  const result = create(host, port, family, undefined, flags);
  if (typeof result === 'number') throw new Error(`${what}: ${util.getSystemErrorName(result)}`);
  return result;
}

type CreateServerHandle = (
  address: string | null,
  port: number,
  addressType: number,
  fd: number | undefined,
  flags: number,
) => BoundHandle | number;

/**
 * Puts bound sockets in the listening state without accepting on them in this process. With
 * posix-node that is listen(2) on each fd. Without it, a helper `node -e` process gets the sockets at
 * fds 3.., listens on each and exits before its event loop could accept: the listening state belongs
 * to the socket, so it stays. (About 100 ms, once, against nothing with posix-node.)
 */
export function listenWithoutAccepting(fds: readonly number[], backlog: number): void {
  if (fds.length === 0) return;
  const posix = optionalPosix();
  if (posix) {
    for (const fd of fds) posix.listen(fd, backlog);
  } else {
    const result = spawnSync(process.execPath, ['-e', LISTEN_HELPER, String(backlog), String(fds.length)], {
      stdio: ['ignore', 'ignore', 'pipe', ...fds],
    });
    if (result.error) throw new Error(`listen(2) failed: ${result.error.message}`);
  }
  for (const fd of fds) {
    if (!isListeningSocket(fd)) throw new Error(`listen(2) failed on fd ${fd}`);
  }
}

const LISTEN_HELPER = `
const net = require('net');
const backlog = Number(process.argv[1]);
for (let fd = 3; fd < 3 + Number(process.argv[2]); fd++) net.createServer().listen({ fd, backlog });
process.exit(0); // before the event loop runs, so nothing is accepted here
`;

function describeBound(address: ListenAddress, handle: BoundHandle): string {
  if (address.kind !== 'tcp' || !handle.getsockname) return describeListen(address);
  const out: Record<string, unknown> = {};
  handle.getsockname(out);
  const host = address.host === undefined ? undefined : String(out.address ?? address.host);
  return describeListen({ kind: 'tcp', host, port: Number(out.port ?? address.port) });
}

async function resolveHost(host: string): Promise<{ address: string; family: number }> {
  const family = net.isIP(host);
  if (family !== 0) return { address: host, family };
  return dns.promises.lookup(host);
}

/**
 * A socket file left by a process that died is removed (as libfcgi does); one that a live server
 * answers on is an error, and so is a path that is not a socket.
 */
export async function removeStaleSocket(file: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new Error(`listen: ${file} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(file, () => {
      probe.destroy();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
  });
  if (alive) throw new Error(`listen: ${file} is in use by a running server`);
  fs.rmSync(file, { force: true });
}

/** Unlinks the manager's unix socket when it exits, if the file is still the one it made. */
function removeOnExit(file: string): void {
  const ino = fs.statSync(file).ino;
  process.once('exit', () => {
    try {
      if (fs.lstatSync(file).ino === ino) fs.unlinkSync(file);
    } catch {
      // already gone
    }
  });
}

function whenListening(server: net.Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
    start();
  });
}

/**
 * Makes a worker's server accept on the socket it inherited at `fd`, in this process.
 * net routes `listen({ fd })` in a cluster worker through the primary, whose shared handle closes the
 * fd when its last worker leaves. `_listen2` is net's worker-local listen (what `exclusive: true`
 * does for ports); Node keeps it as a legacy alias for code that wraps it.
 */
export function listenOnInheritedFd(server: net.Server, fd: number, backlog = DEFAULT_BACKLOG): Promise<void> {
  const listen2 = (server as unknown as { _listen2?: Function })._listen2;
  if (typeof listen2 !== 'function') throw new Error('listen: this Node.js has no net.Server#_listen2');
  return whenListening(server, () => listen2.call(server, null, null, null, backlog, fd));
}

/** Listening with no manager (n_processes 0): the process opens the address itself. */
export async function listenStandalone(server: net.Server, address: ListenAddress): Promise<void> {
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  return whenListening(server, () => {
    if (address.kind === 'fd') server.listen({ fd: address.fd, backlog: DEFAULT_BACKLOG });
    else if (address.kind === 'unix') server.listen({ path: address.path, backlog: DEFAULT_BACKLOG });
    else server.listen({ port: address.port, host: address.host, backlog: DEFAULT_BACKLOG });
  });
}
