// boot_nice: a worker that boots while the workers it replaces still serve (a reload, a recycle)
// boots at a lower CPU priority, and gets the manager's own back when it accepts. Booting a Node
// process costs about 110 ms of CPU; at the same priority, two of them take half the CPU of the two
// workers serving beside them in the same cgroup (or session), so each HUP of a storm halved the
// pool's throughput (bench reload-storm). A worker that replaces capacity the pool lacks (at start,
// after a crash, TTIN) boots at full priority: nobody else is serving its share.
//
// Raising a nice value is always allowed; lowering it again needs CAP_SYS_NICE in the initial user
// namespace, or RLIMIT_NICE, so a manager that could not give the priority back never takes it away
// (bootNiceUnavailable).

import * as fs from 'node:fs';
import * as os from 'node:os';

/** CAP_SYS_NICE's bit in /proc/PID/status CapEff. */
const CAP_SYS_NICE = 23n;

/** The uid_map of the initial user namespace: all of uid space, unmapped. */
const INITIAL_UID_MAP = /^\s*0\s+0\s+4294967295\s*$/;

/**
 * Pure: whether a process whose /proc/self/status, /proc/self/limits and /proc/self/uid_map read as
 * given may set a nice value as low as `nice`. CAP_SYS_NICE counts only in the initial user namespace
 * (the kernel checks it there: in a container with its own user namespace it shows, and does not
 * work); RLIMIT_NICE r allows down to 20 - r anywhere. An unknown answer is no.
 */
export function canLowerNiceTo(nice: number, status: string, limits: string, uidMap: string): boolean {
  const capEff = /^CapEff:\s*([0-9a-f]+)$/im.exec(status)?.[1];
  const hasCap = capEff !== undefined && ((BigInt(`0x${capEff}`) >> CAP_SYS_NICE) & 1n) === 1n;
  if (hasCap && INITIAL_UID_MAP.test(uidMap)) return true;
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
    const read = (name: string) => fs.readFileSync(`/proc/self/${name}`, 'utf8');
    if (canLowerNiceTo(managerNice, read('status'), read('limits'), read('uid_map'))) return undefined;
  } catch (err) {
    return `cannot read /proc/self: ${(err as Error).message}`;
  }
  return 'giving a worker its priority back needs CAP_SYS_NICE (root, outside a user namespace) or RLIMIT_NICE';
}

export type NiceResult = 'set' | 'gone' | 'denied';

/**
 * Sets the nice of every thread of `pid` (setpriority(2) on Linux sets one thread): the main thread
 * first, then the others, read again until no new one appears (a thread inherits its creator's nice,
 * so one started meanwhile may have the old one). 'gone' if the process has exited.
 */
export function setProcessNice(pid: number, nice: number): NiceResult {
  const done = new Set<number>();
  for (let pass = 0; pass < 3; pass++) {
    let threads: number[];
    try {
      threads = [pid, ...fs.readdirSync(`/proc/${pid}/task`).map(Number).filter((tid) => tid !== pid)];
    } catch {
      threads = [pid];
    }
    const fresh = threads.filter((tid) => !done.has(tid));
    if (fresh.length === 0) break;
    for (const tid of fresh) {
      done.add(tid);
      try {
        os.setPriority(tid, nice);
      } catch (err) {
        const code = (err as { info?: { code?: string }; code?: string }).info?.code ?? (err as { code?: string }).code;
        if (code === 'EACCES' || code === 'EPERM') return 'denied';
        if (tid === pid) return 'gone';
        // that thread has exited meanwhile
      }
    }
  }
  return 'set';
}
