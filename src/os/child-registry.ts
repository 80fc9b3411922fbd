// The child processes the manager itself spawns (ss, systemd-notify): libuv reaps each with
// waitpid(pid) when it exits, so the orphan reaper (orphan-reaper.ts) must leave them alone.

import type { ChildProcess } from 'node:child_process';

const live = new Set<number>();

/** Records `child` until it has exited (and libuv has reaped it). */
export function trackChild(child: ChildProcess): ChildProcess {
  const pid = child.pid;
  if (pid !== undefined) {
    live.add(pid);
    child.once('exit', () => live.delete(pid));
  }
  return child;
}

export function trackedChildPids(): ReadonlySet<number> {
  return live;
}
