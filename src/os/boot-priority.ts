// boot_nice: a worker that boots while the workers it replaces still serve (a reload, a recycle)
// boots at a lower CPU priority, and gets the manager's own back when it accepts. Booting a Node
// process costs about 110 ms of CPU; at the same priority, two of them take half the CPU of the two
// workers serving beside them in the same cgroup (or session), so each HUP of a storm halved the
// pool's throughput (bench reload-storm). A worker that replaces capacity the pool lacks (at start,
// after a crash, TTIN) boots at full priority: nobody else is serving its share.
//
// Raising a nice value is always allowed; lowering it again needs CAP_SYS_NICE or RLIMIT_NICE, so a
// manager that could not give the priority back never takes it away (canRestorePriority).

import * as fs from 'node:fs';
import * as os from 'node:os';

/** CAP_SYS_NICE's bit in /proc/PID/status CapEff. */
const CAP_SYS_NICE = 23n;

/**
 * Pure: whether a process whose /proc/self/status and /proc/self/limits read as given may set a nice
 * value as low as `nice` (RLIMIT_NICE r allows down to 20 - r). An unknown answer is no.
 */
export function canLowerNiceTo(nice: number, status: string, limits: string): boolean {
  const capEff = /^CapEff:\s*([0-9a-f]+)$/im.exec(status)?.[1];
  if (capEff !== undefined && ((BigInt(`0x${capEff}`) >> CAP_SYS_NICE) & 1n) === 1n) return true;
  const soft = /^Max nice priority\s+(\d+|unlimited)/m.exec(limits)?.[1];
  if (soft === undefined) return false;
  return soft === 'unlimited' || 20 - Number(soft) <= nice;
}

/** Pure: the nice a booting worker gets: `bootNice` above the manager's own, at most 19. */
export function bootNiceValue(managerNice: number, bootNice: number): number {
  return Math.min(19, managerNice + bootNice);
}

/**
 * Pure: whether a worker forked now boots at low priority: boot_nice is on, and as many workers as
 * the pool wants are already accepting (so the new one is a replacement, not missing capacity).
 */
export function bootsAtLowPriority(bootNice: number, accepting: number, wanted: number): boolean {
  return bootNice > 0 && accepting >= wanted;
}

/** Why this process cannot use boot_nice, or undefined if it can (Linux, and the right to undo it). */
export function bootNiceUnavailable(managerNice = os.getPriority()): string | undefined {
  if (process.platform !== 'linux') return `only on Linux (this is ${process.platform})`;
  try {
    if (canLowerNiceTo(managerNice, fs.readFileSync('/proc/self/status', 'utf8'), fs.readFileSync('/proc/self/limits', 'utf8'))) return undefined;
  } catch (err) {
    return `cannot read /proc/self: ${(err as Error).message}`;
  }
  return 'giving a worker its priority back needs CAP_SYS_NICE (root) or RLIMIT_NICE';
}

/** Sets the nice of every thread of `pid` (setpriority(2) on Linux sets one thread); false if it is gone. */
export function setProcessNice(pid: number, nice: number): boolean {
  let threads: number[];
  try {
    threads = fs.readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    threads = [pid];
  }
  let any = false;
  for (const tid of threads) {
    try {
      os.setPriority(tid, nice);
      any = true;
    } catch {
      // that thread (or the process) has exited meanwhile
    }
  }
  return any;
}
