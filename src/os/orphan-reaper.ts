// As PID 1 (a container's init, or unshare --pid), the kernel reparents every orphaned process of
// the container to the manager, and Node never reaps a process it did not spawn: each would stay a
// zombie. Once a second the manager reaps the zombies among its children that are not its own
// (its workers and the helpers it spawns are libuv's to reap: taking their exit statuses would
// leave node:cluster waiting for exits it never sees). waitpid(pid) comes from posix-node.

import * as fs from 'node:fs';
import { optionalPosix } from '../posix';

const REAP_EVERY_MS = 1_000;

interface Waitpid {
  waitpid(pid: number, options: number): { wstatus: number; ret: number };
  constants?: { WNOHANG?: number };
}

/** The zombies whose parent is `parent`, from /proc (pure apart from the reads). */
export function zombieChildren(parent: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (after[0] === 'Z' && Number(after[1]) === parent) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Starts the reaper when this process is PID 1; `own()` are the pids not to touch. */
export function startOrphanReaper(own: () => ReadonlySet<number>, log: (msg: string) => void): void {
  if (process.pid !== 1) return;
  const posix = optionalPosix() as unknown as Waitpid | null;
  if (typeof posix?.waitpid !== 'function') {
    log('running as PID 1 without posix-node: orphaned processes cannot be reaped and stay zombies (run with --init, or install posix-node)');
    return;
  }
  const WNOHANG = posix.constants?.WNOHANG ?? 1;
  setInterval(() => {
    const mine = own();
    for (const pid of zombieChildren(1)) {
      if (mine.has(pid)) continue;
      try {
        posix.waitpid(pid, WNOHANG);
      } catch {
        // reaped meanwhile
      }
    }
  }, REAP_EVERY_MS).unref();
  log('running as PID 1: reaping orphaned processes');
}
