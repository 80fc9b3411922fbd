// The superdaemon's sockets: bound and listening (so connections queue in the kernel from the first
// moment, and between generations), never accepted on, and in blocking mode (as Perl's are, so a
// Perl server program's plain accept() blocks instead of failing with EAGAIN).
//
// Node offers no listen() without an accept watcher that would take connections in this process.
// So the socket is bound and put in the listening state as the ProcManager's own socket is
// (bindServerHandle and listenWithoutAccepting in ../socket/listen.ts), and then made blocking:
// - with posix-node: fcntl(2) on the fd, in this process;
// - without it: a helper gets them at fds 0-2, which libuv puts in blocking mode before exec; the flag
//   belongs to the shared open file description, so it sticks. (Measured: about 150 ms in all for
//   listening and blocking, against 20 ms with posix-node.)

import { spawnSync } from 'node:child_process';
import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as util from 'node:util';
import { type BoundHandle, bindServerHandle, formatHostPort, listenWithoutAccepting, removeStaleSocket, socketAddress } from '../socket/listen';
import { optionalPosix } from '../posix';
import type { SocketSpec } from './ports';

export interface OpenSocket {
  spec: SocketSpec;
  /** This process's fd. */
  fd: number;
  /** Where it is bound, with the port the kernel chose for port 0. */
  description: string;
}

type Handle = BoundHandle;

interface UdpHandle extends Handle {
  bind(address: string, port: number, flags: number): number;
  bind6(address: string, port: number, flags: number): number;
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
      return bindServerHandle(spec.path, -1, -1, 0, `failed to bind to ${spec.name}`);
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
  return bindServerHandle(address, spec.port, spec.family, spec.family === 6 ? UV_TCP_IPV6ONLY : 0, `failed to bind to ${spec.name}`);
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

/** Where a socket is bound, read back from it (the port the kernel chose for port 0). */
function describeBound(spec: SocketSpec, handle: Handle): string {
  const bound = spec.kind === 'unix' ? undefined : socketAddress(handle);
  if (!bound) return spec.name;
  return `${spec.kind === 'udp' ? 'udp ' : ''}${formatHostPort(bound.address, bound.port)}`;
}

function makeBlocking(fds: readonly number[]): void {
  const posix = optionalPosix();
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
