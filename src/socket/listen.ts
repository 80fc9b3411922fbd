// The listening socket: where it comes from, and how workers accept on it.
//
// As in Perl's FCGI::ProcManager, the manager owns the socket and workers accept on their own copy.
// The manager never accepts, and it keeps the socket open while workers come and go, so a connection
// that arrives while every worker is being replaced (HUP) waits in the kernel's backlog instead of
// being refused. A naive node:cluster pool loses those: the primary closes its shared handle when the
// last worker leaves (see docs/listening-socket.md).

import { spawnSync } from 'node:child_process';
import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as util from 'node:util';
import { type ListenSpec, PARAMETERS } from '../params';
import { optionalPosix } from '../posix';
import { takeInheritedSocket } from '../start-server/inherited';
import { describeListen, formatHostPort, type ListenAddress, parseListenSpec } from './address';

export { describeListen, formatHostPort, type ListenAddress, parseListenSpec };

/** listen_backlog's default: Node's, also nginx's and PHP-FPM's. */
export const DEFAULT_BACKLOG: number = PARAMETERS.listen_backlog.default;

/** The fd number at which a worker finds the manager's socket (systemd's first fd, too). */
export const WORKER_LISTEN_FD = 3;
/** Tells a worker that its manager passed it a socket at WORKER_LISTEN_FD. */
export const WORKER_LISTEN_FD_ENV = 'FCGI_PM_LISTEN_FD';
/**
 * The backlog a worker listens with: listen(2) on a socket that already listens sets its backlog
 * anew, so every worker must ask for the manager's, or the last one to start would decide it.
 */
export const WORKER_BACKLOG_ENV = 'FCGI_PM_LISTEN_BACKLOG';

/** How the manager's socket is made: its backlog, and for a unix socket its mode and owner. */
export interface SocketOptions {
  backlog: number;
  /** Permission bits of a unix socket file (0o660). */
  mode?: number | undefined;
  uid?: number | undefined;
  gid?: number | undefined;
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

/** The rows of a /proc/net table, split into columns (none if it cannot be read). */
function procNetRows(file: string): string[][] {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(1).map((line) => line.trim().split(/\s+/));
  } catch {
    return [];
  }
}

/** Inodes of the listening sockets in /proc/net/{tcp,tcp6,unix}. */
function listeningInodes(): Set<number> {
  const inodes = new Set<number>();
  const rows = procNetRows;
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

/** The three ways a FastCGI pool gets its socket, for the error when it has none. */
export const HOW_TO_GIVE_A_SOCKET =
  "set the `listen` parameter (a unix socket path, 'host:port' or a port), start it with a listening " +
  'socket on fd 0 (a web server, spawn-fcgi), or under start_server or systemd socket activation';

/** A socket the manager holds for its workers. */
export interface ManagerSocket {
  fd: number;
  /** Its listen backlog, which each worker's listen(2) must repeat. */
  backlog: number;
  /** Where it is bound, read back from the socket: for TCP the address and the port the kernel gave. */
  description: string;
}

/**
 * Opens the manager's socket: bound and listening, so connections queue in the kernel from the first
 * moment, but not watched by this process's event loop, so the manager never accepts.
 */
export async function openManagerSocket(address: ListenAddress, options: SocketOptions = { backlog: DEFAULT_BACKLOG }): Promise<ManagerSocket> {
  if (address.kind === 'fd') {
    if (!isListeningSocket(address.fd)) throw new Error(`listen: fd ${address.fd} is not a listening socket`);
    return { fd: address.fd, backlog: options.backlog, description: describeListen(address) };
  }
  const what = `listen ${describeListen(address)}`;
  let handle: BoundHandle;
  if (address.kind === 'unix') {
    await removeStaleSocket(address.path);
    handle = bindServerHandle(address.path, -1, -1, 0, what);
    removeOnExit(address.path);
    // Between bind and listen nobody can connect (connect(2) is refused until listen), so the mode
    // and owner are in place before the socket is open to anyone.
    try {
      if (options.uid !== undefined || options.gid !== undefined) fs.chownSync(address.path, options.uid ?? -1, options.gid ?? -1);
      if (options.mode !== undefined) fs.chmodSync(address.path, options.mode);
    } catch (err) {
      handle.close();
      const errno = (err as NodeJS.ErrnoException).errno;
      throw new Error(`${what}: setting its owner and mode: ${typeof errno === 'number' ? describeErrno(errno) : (err as Error).message}`);
    }
  } else {
    const host = address.host === undefined ? undefined : await resolveHost(address.host, what);
    handle = bindServerHandle(host?.address ?? null, address.port, host?.family ?? 4, 0, what);
  }
  heldHandles.push(handle); // the fd lives as long as its handle; keep it from being collected
  listenWithoutAccepting([handle.fd], options.backlog);
  return { fd: handle.fd, backlog: options.backlog, description: describeBound(address, handle) };
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
 * API it does not start the event loop's accept watcher. An error reads
 * `${what}: EADDRINUSE (address already in use)`.
 */
export function bindServerHandle(host: string | null, port: number, family: number, flags: number, what: string): BoundHandle {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') throw new Error(`${what}: this Node.js has no net._createServerHandle`);
  const result = create(host, port, family, undefined, flags);
  // libuv reports a unix socket path in a missing directory as EACCES (as Windows would): say ENOENT.
  if (result === -EACCES && port === -1 && host !== null && !fs.existsSync(path.dirname(host))) throw noDirectoryFor(what, host);
  if (typeof result === 'number') throw new Error(`${what}: ${describeErrno(result)}`);
  // libuv keeps an EADDRINUSE from bind(2) to report it at its own listen (uv__tcp_bind's delayed
  // error), which we never call: listen(2) on the unbound socket would bind a random port on every
  // address. An unbound socket reads back port 0.
  if (port >= 0 && (socketAddress(result)?.port ?? 0) === 0) {
    result.close();
    throw new Error(`${what}: ${describeErrno(-EADDRINUSE)}`);
  }
  return result;
}

const { EACCES, EADDRINUSE, ENOENT } = os.constants.errno;

/** The error for a unix socket path whose directory is missing; `what` names the address. */
export function noDirectoryFor(what: string, socketPath: string): Error {
  return new Error(`${what}: ${describeErrno(-ENOENT)}: no directory ${path.dirname(socketPath)}`);
}

/** A libuv error number as `EADDRINUSE (address already in use)`. */
export function describeErrno(errno: number): string {
  const [name, message] = util.getSystemErrorMap().get(errno) ?? [`errno ${errno}`, ''];
  return message ? `${name} (${message})` : name;
}

/** Where a bound TCP or UDP handle is, read back from the socket (getsockname). */
export function socketAddress(handle: BoundHandle): { address: string; port: number } | undefined {
  if (!handle.getsockname) return undefined;
  const out: { address?: unknown; port?: unknown } = {};
  if (handle.getsockname(out) !== 0) return undefined;
  return { address: String(out.address), port: Number(out.port) };
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

/** What a bound socket is, read back from it: for TCP the address and port the kernel gave. */
function describeBound(address: ListenAddress, handle: BoundHandle): string {
  const bound = address.kind === 'tcp' ? socketAddress(handle) : undefined;
  return bound ? formatHostPort(bound.address, bound.port) : describeListen(address);
}

async function resolveHost(host: string, what: string): Promise<{ address: string; family: number }> {
  const family = net.isIP(host);
  if (family !== 0) return { address: host, family };
  try {
    return await dns.promises.lookup(host);
  } catch (err) {
    throw new Error(`${what}: cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
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
  // Only a refused connection says nobody listens: EACCES (another user's socket) or EAGAIN (a full
  // backlog) may well be a live server's.
  const probe = await new Promise<'alive' | 'stale' | string>((resolve) => {
    const connection = net.connect(file, () => {
      connection.destroy();
      resolve('alive');
    });
    connection.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'stale' : (err.code ?? err.message)));
  });
  if (probe === 'alive') throw new Error(`listen: ${file} is in use by a running server`);
  if (probe !== 'stale') throw new Error(`listen: ${file} exists, and whether a server answers on it cannot be told (${probe}); remove it if none does`);
  fs.rmSync(file, { force: true });
}

/** Unlinks the manager's unix socket when it exits, if the file is still the one it made. */
export function removeOnExit(file: string): void {
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
export async function listenOnInheritedFd(server: net.Server, fd: number, backlog = DEFAULT_BACKLOG): Promise<void> {
  const listen2 = (server as unknown as { _listen2?: Function })._listen2;
  if (typeof listen2 !== 'function') throw new Error('listen: this Node.js has no net.Server#_listen2');
  await whenListening(server, () => {
    listen2.call(server, null, null, null, backlog, fd);
    // On a unix socket, net's server.address() returns the path it listened on, which it only knows
    // when it bound the socket itself. Frameworks read it in their 'listening' callbacks (Fastify logs
    // it, and fails on null), which run on the next tick: it is set before.
    if (server.address() === null) (server as unknown as { _pipeName: string })._pipeName = unixSocketPath(fd);
  });
}

/** The path a unix socket at `fd` is bound to, from /proc/net/unix ('' for an unnamed socket). */
export function unixSocketPath(fd: number): string {
  let inode: number;
  try {
    inode = fs.fstatSync(fd).ino;
  } catch {
    return '';
  }
  const row = procNetRows('/proc/net/unix').find((cols) => Number(cols[6]) === inode);
  return row?.[7] ?? '';
}

/**
 * Listening with no manager (n_processes 0): the process opens the address itself. Resolves with
 * where it listens, read back from the socket.
 */
export async function listenStandalone(server: net.Server, address: ListenAddress): Promise<string> {
  // As the manager does (openManagerSocket): listen(2) on a socket that is not listening would bind an
  // unbound one to a random port on every address.
  if (address.kind === 'fd' && !isListeningSocket(address.fd)) throw new Error(`listen: fd ${address.fd} is not a listening socket`);
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  await whenListening(server, () => {
    if (address.kind === 'fd') server.listen({ fd: address.fd, backlog: DEFAULT_BACKLOG });
    else if (address.kind === 'unix') server.listen({ path: address.path, backlog: DEFAULT_BACKLOG });
    else server.listen({ port: address.port, host: address.host, backlog: DEFAULT_BACKLOG });
  }).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`listen ${describeListen(address)}: ${typeof err.errno === 'number' ? describeErrno(err.errno) : err.message}`);
  });
  const bound = server.address();
  return typeof bound === 'object' && bound !== null ? formatHostPort(bound.address, bound.port) : describeListen(address);
}
