// worker_timeout: the manager kills a worker whose heartbeat is older than the timeout. A blocked
// event loop cannot run the worker's heartbeat timer, so silence means a stuck loop (or a worker
// that never got going). The decisions are pure and tested apart; pool.ts sends the KILL.
//
// A manager that was itself suspended (SIGSTOP, a VM pause, a laptop lid) wakes up with every
// heartbeat unread in its IPC pipes: its own timer then fires far later than it asked, and that
// round is skipped instead of killing healthy workers, as unicorn does.

import { performance } from 'node:perf_hooks';

/** The worker's heartbeat period: a quarter of the timeout, within [50 ms, 10 s]. */
export function heartbeatIntervalMs(timeoutSeconds: number): number {
  return Math.min(10_000, Math.max(50, Math.round((timeoutSeconds * 1000) / 4)));
}

/** The manager's check period: as often as the heartbeat. */
export const watchdogIntervalMs = heartbeatIntervalMs;

/** True when a timer asked for `intervalMs` fired more than twice that late: the manager was not running. */
export function managerWasSuspended(lastCheckAt: number, now: number, intervalMs: number): boolean {
  return now - lastCheckAt > 3 * intervalMs;
}

export interface HeartbeatView {
  pid: number;
  /** When the manager last heard from it (monotonic ms); its fork time until then. */
  lastHeardAt: number;
  /** Already sent its KILL. */
  killed: boolean;
}

/** The workers silent for longer than `timeoutMs` at `now`, with how long each has been silent. */
export function silentWorkers(workers: readonly HeartbeatView[], now: number, timeoutMs: number): { pid: number; silentMs: number }[] {
  return workers.filter((w) => !w.killed && now - w.lastHeardAt > timeoutMs).map((w) => ({ pid: w.pid, silentMs: now - w.lastHeardAt }));
}

/** The KILL-sending part, kept out of pool.ts: a timer that judges `workers()` every period. */
export class Watchdog {
  /** Workers it killed, since the pool started. */
  kills = 0;

  constructor(
    private readonly timeoutSeconds: number,
    private readonly workers: () => (HeartbeatView & { inFlight: number })[],
    private readonly notify: (msg: string) => void,
    private readonly kill: (pid: number) => void,
  ) {}

  start(): void {
    const intervalMs = watchdogIntervalMs(this.timeoutSeconds);
    let lastCheckAt = performance.now();
    setInterval(() => {
      const now = performance.now();
      if (managerWasSuspended(lastCheckAt, now, intervalMs)) {
        // The heartbeats sent meanwhile are still unread in the IPC pipes: look again next round.
        this.notify(`watchdog: this manager did not run for ${((now - lastCheckAt) / 1000).toFixed(1)} s (suspended?); not judging the workers by it`);
        lastCheckAt = now;
        return;
      }
      lastCheckAt = now;
      const workers = this.workers();
      for (const { pid, silentMs } of silentWorkers(workers, now, this.timeoutSeconds * 1000)) {
        const worker = workers.find((w) => w.pid === pid)!;
        worker.killed = true;
        this.kills++;
        const inFlight = worker.inFlight === 1 ? '1 request' : `${worker.inFlight} requests`;
        this.notify(`server (pid ${pid}) timed out: no heartbeat for ${(silentMs / 1000).toFixed(1)} s, killing (${inFlight} in flight)`);
        this.kill(pid);
      }
    }, intervalMs).unref();
  }
}
