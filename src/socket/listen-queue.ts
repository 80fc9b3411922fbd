// How many connections wait in the kernel's backlog of the manager's listening socket (the status
// page's `listen queue`), for TCP and unix sockets alike. The socket is found by its inode
// (/proc/self/fd/N -> socket:[inode]). `ss` (iproute2) reads both kinds through sock_diag: for a
// listening socket its Recv-Q is the queue now and its Send-Q the backlog's size. Without `ss`, a TCP
// socket's queue is the rx_queue of its LISTEN row in /proc/net/tcp and tcp6, and a unix socket's
// cannot be read (PHP-FPM reads 0 for those: php-src #9943). The parsers are pure.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { trackChild } from '../os/child-registry';

export interface ListenQueue {
  /** Connections waiting to be accepted now. */
  queued: number;
  /** The backlog's size, where it could be read. */
  backlog: number | undefined;
}

/** The inode of the socket on `fd` of this process, if it is one. */
export function socketInode(fd: number): number | undefined {
  try {
    const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** From `ss -lnHe -x -t` output: the listening socket with this inode. */
export function parseSsOutput(output: string, inode: number): ListenQueue | undefined {
  for (const line of output.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (!fields.includes(String(inode)) && !fields.includes(`ino:${inode}`)) continue;
    const [, state, recv, send] = fields;
    if (state !== 'LISTEN') continue;
    return { queued: Number(recv), backlog: Number(send) };
  }
  return undefined;
}

/** From /proc/net/tcp or tcp6: the LISTEN row (state 0A) with this inode; its rx_queue is the queue. */
export function parseProcNetTcp(text: string, inode: number): ListenQueue | undefined {
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A' || f[9] !== String(inode)) continue;
    const rx = f[4]!.split(':')[1]!;
    return { queued: parseInt(rx, 16), backlog: undefined };
  }
  return undefined;
}

function run(command: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    trackChild(execFile(command, args, { timeout: 2_000 }, (err, stdout) => resolve(err ? undefined : stdout)));
  });
}

/** The listen queue of the socket on `fd`, or undefined where it cannot be read. */
export async function readListenQueue(fd: number): Promise<ListenQueue | undefined> {
  const inode = socketInode(fd);
  if (inode === undefined) return undefined;
  const ss = await run('ss', ['-lnHe', '-x', '-t']);
  const fromSs = ss === undefined ? undefined : parseSsOutput(ss, inode);
  if (fromSs) return fromSs;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      const found = parseProcNetTcp(fs.readFileSync(file, 'utf8'), inode);
      if (found) return found;
    } catch {
      // no such table
    }
  }
  return undefined;
}
