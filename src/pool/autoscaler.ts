// pm = dynamic and pm = ondemand: the rounds that resize the pool once a second (the decisions are
// scaling.ts's, pure), the socket watch that wakes an empty ondemand pool, and the maximum that TTIN
// and TTOU move in these modes. The pool reconciles to the count this sets; this module only asks.

import type { WorkerHandle } from './worker-handle';
import { dynamicMaintenance, ondemandMaintenance, type PoolSizing } from './scaling';
import { SocketWatch } from './socket-watch';
import { readListenQueue } from '../socket/listen-queue';

/** PHP-FPM's maintenance runs this often. */
const ROUND_MS = 1_000;

/** What the autoscaler may see and do of its pool. */
export interface ScalablePool {
  /** Running, not reloading or stopping: rounds only run then. */
  isRunning(): boolean;
  isStopping(): boolean;
  readonly socketFd: number;
  /** Workers starting or accepting, not asked to stop. */
  liveWorkers(): WorkerHandle[];
  /** How many workers the pool keeps; the pool then forks or retires to match. */
  setDesiredWorkers(count: number): void;
  /** Retires this worker (it drains), keeping one fewer. */
  retireOne(handle: WorkerHandle): void;
  notify(msg: string): void;
}

export class Autoscaler {
  /** pm.max_children: n_processes, as TTIN and TTOU moved it. */
  maxChildren: number;
  maxChildrenReached = 0;
  private spawnRate = 1;
  private maxChildrenWarned = false;
  private socketWatch: SocketWatch | undefined;

  constructor(
    private sizing: Exclude<PoolSizing, { mode: 'static' }>,
    private readonly pool: ScalablePool,
    nProcesses: number,
  ) {
    this.maxChildren = sizing.mode === 'ondemand' ? sizing.maxChildren : nProcesses;
  }

  /** A reload brought new limits (of the same mode: pm itself needs a restart); the maximum is n_processes again. */
  setSizing(sizing: Exclude<PoolSizing, { mode: 'static' }>, nProcesses: number): void {
    this.sizing = sizing;
    this.maxChildren = sizing.mode === 'ondemand' ? sizing.maxChildren : nProcesses;
    this.pool.setDesiredWorkers(Math.min(this.pool.liveWorkers().length, this.maxChildren));
  }

  /** The workers the pool starts with: start_servers, or none for ondemand. */
  get initialWorkers(): number {
    return this.sizing.mode === 'dynamic' ? this.sizing.startServers : 0;
  }

  start(): void {
    if (this.sizing.mode === 'ondemand') {
      this.socketWatch = new SocketWatch(
        this.pool.socketFd,
        () => this.onConnectionWaiting(),
        (err) => this.pool.notify(`pm = ondemand: the socket watch failed (${err.message}); no worker starts on demand any more`),
      );
    }
    setInterval(() => void this.round(), ROUND_MS).unref();
  }

  /** After each reconcile: an ondemand pool with nobody to accept waits for the next connection. */
  reconciled(): void {
    if (this.socketWatch && this.pool.liveWorkers().length === 0) this.socketWatch.arm();
  }

  /** TTIN and TTOU move the maximum; a dynamic pool's never goes below max_spare_servers. */
  /**
   * TTIN, TTOU and `fcgi-pm scale` move the maximum; `why` begins the log line. pm = dynamic keeps
   * at least max_spare_servers: a signal stops there, an exact count below it is refused.
   */
  setMaxChildren(count: number, why: string, exact: boolean): { message: string } | { error: string } {
    const before = this.maxChildren;
    const floor = this.sizing.mode === 'dynamic' ? this.sizing.limits.maxSpare : 1;
    if (count < floor && exact) return { error: `pm dynamic keeps max_children at max_spare_servers (${floor}) or more, asked for ${count}` };
    this.maxChildren = Math.max(floor, count);
    const what = `max_children ${this.maxChildren}`;
    const message = `${why}: ${this.maxChildren === before ? `already at ${what}` : what}`;
    this.pool.notify(message);
    const live = this.pool.liveWorkers().length;
    this.pool.setDesiredWorkers(Math.min(live, this.maxChildren));
    return { message };
  }

  private async round(): Promise<void> {
    if (!this.pool.isRunning()) return;
    if (this.sizing.mode === 'dynamic') this.dynamicRound(this.sizing);
    else await this.ondemandRound(this.sizing);
  }

  /** PHP-FPM's idle-server maintenance. */
  private dynamicRound(sizing: Extract<PoolSizing, { mode: 'dynamic' }>): void {
    const live = this.pool.liveWorkers();
    const idle = live.filter((h) => h.state === 'accepting' && h.inFlight === 0);
    const decision = dynamicMaintenance({ ...sizing.limits, maxChildren: this.maxChildren }, { idle: idle.length, total: live.length, spawnRate: this.spawnRate });
    this.spawnRate = decision.nextSpawnRate;
    if (decision.reachedMaxChildren) return this.warnMaxChildren();
    this.maxChildrenWarned = false;
    if (decision.retireIdle) {
      this.pool.retireOne(idle.sort((a, b) => a.forkedAt - b.forkedAt)[0]!);
    } else if (decision.spawn > 0) {
      if (decision.busyWarning) {
        this.pool.notify(
          `seems busy (you may need to increase start_servers, or min/max_spare_servers), spawning ${decision.spawn} children, ` +
            `there are ${idle.length} idle, and ${live.length} total children`,
        );
      }
      this.pool.setDesiredWorkers(live.length + decision.spawn);
    }
  }

  /** Retire a worker idle too long; add one while connections wait. */
  private async ondemandRound(sizing: Extract<PoolSizing, { mode: 'ondemand' }>): Promise<void> {
    const live = this.pool.liveWorkers();
    if (live.length === 0) return; // the socket watch is armed
    const queued = (await readListenQueue(this.pool.socketFd))?.queued ?? 0;
    const accepting = live.filter((h) => h.state === 'accepting');
    const decision = ondemandMaintenance(
      { maxChildren: this.maxChildren, idleTimeoutMs: sizing.idleTimeoutMs },
      { now: Date.now(), total: live.length, idleSince: accepting.map((h) => h.idleSince), queued },
    );
    if (decision.retireIdleIndex !== undefined) this.pool.retireOne(accepting[decision.retireIdleIndex]!);
    else if (decision.spawn > 0) this.pool.setDesiredWorkers(live.length + decision.spawn);
    else if (queued > 0 && live.length >= this.maxChildren) this.warnMaxChildren();
    else if (queued === 0) this.maxChildrenWarned = false;
  }

  /** A connection waits and no worker accepts: start one. */
  private onConnectionWaiting(): void {
    if (this.pool.isStopping() || this.pool.liveWorkers().length > 0) return;
    this.pool.setDesiredWorkers(1);
  }

  /** PHP-FPM's warning, once per episode, counted for the status page. */
  private warnMaxChildren(): void {
    if (this.maxChildrenWarned) return;
    this.maxChildrenWarned = true;
    this.maxChildrenReached++;
    this.pool.notify(`server reached max_children setting (${this.maxChildren}), consider raising it`);
  }
}
