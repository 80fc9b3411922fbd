// The manager's record of one worker (Puma's WorkerHandle): its slot, generation and state, and the
// scoreboard figures its reports carry.

import type { Worker } from 'node:cluster';
import { performance } from 'node:perf_hooks';
import { sendToWorker, type WorkerMessage } from './messages';
import type { WorkerState, WorkerView } from './reconcile';

type Report = Extract<WorkerMessage, { act: 'fcgi-pm:report' }>;

export class WorkerHandle implements WorkerView {
  state: WorkerState = 'starting';
  /** It asked to be replaced; why, for the log. */
  recycle = false;
  recycleReason: string | undefined;
  readonly forkedAt = Date.now();
  readonly forkedAtMonotonic = performance.now();
  /** Fork to accepting, on the manager's monotonic clock, once it accepts. */
  bootMs: number | undefined;
  /** When its JavaScript started running: uptime counts from here, so a slow boot on a busy machine
   * is not mistaken for a worker that stayed up. */
  onlineAt: number | undefined;
  acceptingAt: number | undefined;
  /** The nice it boots at (boot_nice), until it accepts; undefined: the manager's own. */
  bootNice: number | undefined;
  /** Gives the priority back after BOOT_NICE_MAX_MS at the latest (pool/boot-nice). */
  bootNiceTimer: NodeJS.Timeout | undefined;
  /** It has accepted for reload_warmup (set by the pool's timer, so that the plan and the timer agree). */
  warm = false;
  warmTimer: NodeJS.Timeout | undefined;
  inFlight = 0;
  served = 0;
  oldestRequestStartedAt: number | null = null;
  oldestRequestUri: string | null = null;
  rss = 0;
  /** Its requests that got a slow-log entry. */
  slowRequests = 0;
  lastRequest: Report['lastRequest'] = null;
  lastMessageAt: number | undefined;
  /** When the manager last heard from it, on the monotonic clock (the watchdog's); its fork until then. */
  lastHeardAt = performance.now();
  /** The watchdog sent it KILL. */
  killed = false;
  healthyTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly worker: Worker,
    readonly pid: number,
    readonly slot: number,
    readonly generation: number,
  ) {}

  /** The manager asked it to stop, so its exit is no crash. */
  retired = false;

  /** It stops and has told the manager it has nothing left (it exits once answered). */
  drained = false;

  /** It accepts and is not on its way out. */
  get serving(): boolean {
    return this.state === 'accepting' && !this.retired && !this.drained;
  }

  /**
   * TERM: it stops accepting, finishes its requests in flight and exits. With `handOver`, told first
   * to hand its kept connections over rather than close them (others serve on).
   */
  retire(handOver = false): void {
    if (this.retired) return;
    this.retired = true;
    if (this.state !== 'exiting') this.state = 'retiring';
    // Only a worker that accepted has connections to hand over.
    if (handOver && this.state === 'retiring' && this.acceptingAt !== undefined) sendToWorker(this.worker, { act: 'fcgi-pm:hand-over-connections' });
    sendSignal(this.pid, 'SIGTERM');
  }

  /** Its IPC channel closed: the process is on its way out. */
  disconnected(): void {
    this.state = 'exiting';
  }

  /** Reports received: a status request waits for this to move. */
  reports = 0;
  /** Since when it has had no request in flight, as its reports tell (pm = ondemand's idle timeout). */
  idleSince: number | undefined;

  /** Its requests in flight, from a report or a heartbeat. */
  setInFlight(inFlight: number, now = Date.now()): void {
    this.inFlight = inFlight;
    if (inFlight > 0) this.idleSince = undefined;
    else this.idleSince ??= now;
  }

  applyReport(report: Report): void {
    this.reports++;
    this.setInFlight(report.inFlight);
    this.served = report.served;
    this.oldestRequestStartedAt = report.oldestRequestStartedAt;
    this.oldestRequestUri = report.oldestRequestUri;
    this.rss = report.rss;
    this.slowRequests = report.slowRequests;
    this.lastRequest = report.lastRequest;
  }
}

/** Signals `pid`, ignoring a process that is already gone (its exit event is on its way). */
export function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
