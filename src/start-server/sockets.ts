// The superdaemon's sockets: bound and listening (so connections queue in the kernel from the first
// moment, and between generations), never accepted on, and in blocking mode (as Perl's are, so a
// Perl server program's plain accept() blocks instead of failing with EAGAIN).
//
// Node offers no listen() without an accept watcher that would take connections in this process.
// So the socket is bound with net._createServerHandle (what node:cluster's primary uses), and then:
// - with posix-node: listen(2) and fcntl(2) on the fd, in this process;
// - without it: a helper `node -e` process gets the sockets at fds 3.., calls listen() on each and
//   exits before its event loop could accept; the listening state belongs to the socket, so it stays.
//   A second helper gets them at fds 0-2, which libuv puts in blocking mode before exec; the flag
//   belongs to the shared open file description, so it sticks too. (Measured: about 150 ms in all,
//   against 20 ms with posix-node.)

import { spawnSync } from 'node:child_process';
import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as util from 'node:util';
import { isListeningSocket, removeStaleSocket } from '../listen';
import { optionalPosix, type PosixCalls } from '../posix';
import type { SocketSpec } from './ports';

export interface OpenSocket {
  spec: SocketSpec;
  /** This process's fd. */
  fd: number;
  /** Where it is bound, with the port the kernel chose for port 0. */
  description: string;
}

interface Handle {
  fd: number;
  close(): void;
  getsockname?(out: Record<string, unknown>): number;
}

type CreateServerHandle = (address: string | null, port: number, family: number, fd: undefined, flags: number) => Handle | number;

interface UdpHandle extends Handle {
  bind(address: string, port: number, flags: number): number;
  bind6(address: string, port: number, flags: number): number;
}

/** posix-node's calls used here (loaded as PosixCalls, which lists only what listen.ts needs). */
interface PosixSocketCalls extends PosixCalls {
  listen?(fd: number, backlog: number): void;
  fcntlGetFlags?(fd: number): number;
  fcntlSetFlags?(fd: number, flags: number): void;
}

const UV_TCP_IPV6ONLY = 1;
const UV_UDP_IPV6ONLY = 1;
const UV_UDP_REUSEADDR = 4;
const O_NONBLOCK = 0o4000; // Linux

export class SocketSet {
  private closed = false;

  constructor(
    readonly sockets: readonly OpenSocket[],
    private readonly handles: readonly Handle[],
    private readonly unixFiles: readonly { path: string; ino: number }[],
  ) {
    process.once('exit', () => this.close());
  }

  /** Closes every socket and removes the unix socket files this process made (if they are still its own). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const handle of this.handles) handle.close();
    for (const { path, ino } of this.unixFiles) {
      try {
        const stat = fs.lstatSync(path);
        if (stat.isSocket() && stat.ino === ino) fs.unlinkSync(path);
      } catch {
        // already gone
      }
    }
  }
}

/** Opens every socket, in order; on failure closes those already open and throws a one-line Error. */
export async function openSockets(specs: readonly SocketSpec[], backlog: number): Promise<SocketSet> {
  const sockets: OpenSocket[] = [];
  const handles: Handle[] = [];
  const unixFiles: { path: string; ino: number }[] = [];
  const set = new SocketSet(sockets, handles, unixFiles);
  try {
    for (const spec of specs) {
      const handle = await bind(spec);
      handles.push(handle);
      if (spec.kind === 'unix') unixFiles.push({ path: spec.path, ino: fs.statSync(spec.path).ino });
      sockets.push({ spec, fd: handle.fd, description: describeBound(spec, handle) });
    }
    const streams = sockets.filter((s) => s.spec.kind !== 'udp').map((s) => s.fd);
    listenWithoutAccepting(streams, backlog);
    makeBlocking(sockets.map((s) => s.fd));
  } catch (err) {
    set.close();
    throw err;
  }
  return set;
}

async function bind(spec: SocketSpec): Promise<Handle> {
  if (spec.kind === 'unix') {
    await removeStaleSocket(spec.path);
    // Perl binds with umask 0, so any user may connect; the directory's permissions decide.
    const saved = process.umask(0);
    try {
      return check(createServerHandle()(spec.path, -1, -1, undefined, 0), spec.name);
    } finally {
      process.umask(saved);
    }
  }
  const address = await resolve(spec.host, spec.family);
  if (spec.kind === 'udp') {
    const { UDP } = (process as unknown as { binding(name: string): { UDP: new () => UdpHandle } }).binding('udp_wrap');
    const handle = new UDP();
    const err =
      spec.family === 6
        ? handle.bind6(address, spec.port, UV_UDP_IPV6ONLY | UV_UDP_REUSEADDR)
        : handle.bind(address, spec.port, UV_UDP_REUSEADDR);
    if (err) handle.close();
    return check(err ? err : handle, spec.name);
  }
  return check(createServerHandle()(address, spec.port, spec.family, undefined, spec.family === 6 ? UV_TCP_IPV6ONLY : 0), spec.name);
}

function createServerHandle(): CreateServerHandle {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') throw new Error('this Node.js has no net._createServerHandle');
  return create;
}

function check(result: Handle | number, name: string): Handle {
  if (typeof result === 'number') throw new Error(`failed to bind to ${name}: ${util.getSystemErrorName(result)}`);
  return result;
}

/** Perl resolves an IPv4 host name with gethostbyname(); an IPv6 host must be an address. */
async function resolve(host: string | undefined, family: 4 | 6): Promise<string> {
  if (host === undefined) return '0.0.0.0';
  if (net.isIP(host) !== 0) return host;
  if (family === 6) throw new Error(`failed to resolve host:${host}`);
  try {
    return (await dns.promises.lookup(host, { family: 4 })).address;
  } catch {
    throw new Error(`failed to resolve host:${host}`);
  }
}

function describeBound(spec: SocketSpec, handle: Handle): string {
  if (spec.kind === 'unix' || !handle.getsockname) return spec.name;
  const out: Record<string, unknown> = {};
  handle.getsockname(out);
  const host = String(out.address ?? spec.host ?? '0.0.0.0');
  const port = String(out.port ?? spec.port);
  return `${spec.kind === 'udp' ? 'udp ' : ''}${host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`}`;
}

function posixCalls(): Required<Pick<PosixSocketCalls, 'listen' | 'fcntlGetFlags' | 'fcntlSetFlags'>> | undefined {
  const posix = optionalPosix() as PosixSocketCalls | null;
  if (posix && typeof posix.listen === 'function' && typeof posix.fcntlGetFlags === 'function' && typeof posix.fcntlSetFlags === 'function') {
    return posix as Required<PosixSocketCalls>;
  }
  return undefined;
}

const LISTEN_HELPER = `
const net = require('net');
const backlog = Number(process.argv[1]);
for (let fd = 3; fd < 3 + Number(process.argv[2]); fd++) net.createServer().listen({ fd, backlog });
process.exit(0); // before the event loop runs, so nothing is accepted here
`;

function listenWithoutAccepting(fds: readonly number[], backlog: number): void {
  if (fds.length === 0) return;
  const posix = posixCalls();
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

function makeBlocking(fds: readonly number[]): void {
  const posix = posixCalls();
  if (posix) {
    for (const fd of fds) posix.fcntlSetFlags(fd, posix.fcntlGetFlags(fd) & ~O_NONBLOCK);
    return;
  }
  for (let i = 0; i < fds.length; i += 3) {
    const chunk = fds.slice(i, i + 3);
    const stdio = [0, 1, 2].map((k) => chunk[k] ?? 'ignore');
    // Any program will do; sh starts in 2 ms where node takes 100.
    let result = spawnSync('/bin/sh', ['-c', ':'], { stdio: stdio as ('ignore' | number)[] });
    if (result.error) result = spawnSync(process.execPath, ['-e', ''], { stdio: stdio as ('ignore' | number)[] });
    if (result.error) throw new Error(`could not make the sockets blocking: ${result.error.message}`);
  }
}
