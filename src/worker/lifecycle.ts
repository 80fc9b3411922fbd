// The worker side: counts requests in flight, and on TERM/HUP (or when the manager is gone) stops
// accepting and exits once the requests it holds are answered.
//
// Perl's worker serves one request at a time, so it can check for signals after each one
// (pm_post_dispatch). A Node worker serves many at once: it exits when none is left in flight and
// every connection it accepted is closed, so no accepted request is dropped.

import type * as net from 'node:net';
import * as util from 'node:util';
import cluster from 'node:cluster';
import { sendToManager } from '../pool/messages';
import type { AccessLog } from './access-log';
import type { RecyclePolicy } from './recycle';
import { WorkerReporter } from './reporter';
import { answerFailedRequest, type FailedRequest } from './request-errors';
import { ServerTracker } from './server-tracker';

/** What the worker side needs from its ProcManager. */
export interface WorkerHost {
  preDispatch(): void;
  postDispatch(): void;
  warn(msg: string): void;
  error(msg: string): void;
  exit(msg?: string, status?: number): never;
  /** How long requests in flight may take to finish when the worker must stop on its own (0: no bound). */
  readonly dieTimeoutSeconds: number;
  readonly recyclePolicy: RecyclePolicy;
}

/** Node's own exit status after an uncaught exception. */
const UNCAUGHT_EXCEPTION_STATUS = 1;

export class WorkerLifecycle {
  private inFlight = 0;
  private stopReason: string | undefined;
  private exitStatus = 0;
  private exiting = false;
  private readonly trackers = new Set<ServerTracker>();
  /** access_log's writer, when it is on (set by the ProcManager). */
  accessLog: AccessLog | undefined;
  /** The scoreboard reports to the manager; a process with no manager has none. */
  private readonly reporter: WorkerReporter | undefined;

  constructor(private readonly host: WorkerHost) {
    if (cluster.isWorker) this.reporter = new WorkerReporter(sendToManager, host.recyclePolicy);
  }

  /** A request has arrived on one of the servers (`request` stands for it until it ends). */
  requestBegan(request: object): void {
    this.reporter?.requestBegan(request);
  }

  requestEnded(request: object): void {
    this.reporter?.requestEnded(request);
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  get stopping(): boolean {
    return this.stopReason !== undefined;
  }

  requestStarted(): void {
    this.inFlight++;
  }

  requestFinished(): void {
    if (this.inFlight > 0) this.inFlight--;
    this.exitIfDrained();
  }

  /** Stops accepting, and exits with `reason` and `status` once every request in flight is answered. */
  stop(reason: string, status = 0): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    this.exitStatus = status;
    for (const tracker of this.trackers) tracker.stopAccepting();
    this.exitIfDrained();
  }

  /** Watches `server`'s connections; with `dispatch`, wraps each request in pre/post dispatch. */
  track(server: net.Server, dispatch: boolean): void {
    const tracker = new ServerTracker(server, this, dispatch ? this.host : undefined);
    this.trackers.add(tracker);
    if (this.stopping) tracker.stopAccepting();
  }

  /** A request handler threw, or its promise rejected: that request alone pays for it. */
  requestFailed({ error, req, res }: FailedRequest): void {
    const outcome = answerFailedRequest(req, res);
    this.host.error(`request "${req.method ?? '?'} ${req.url ?? '?'}" failed (${outcome}): ${util.inspect(error)}`);
  }

  /**
   * An exception no request can be blamed for: the process may be in any state, so (as Node
   * advises) it stops accepting, gives its other requests up to die_timeout to finish, and exits
   * non-zero; the manager replaces it, with the crash-loop backoff.
   */
  uncaughtException(error: unknown): void {
    const bound = this.host.dieTimeoutSeconds;
    const already = this.stopping ? ' (already stopping)' : '';
    this.host.error(
      `uncaught exception outside any request${already}; no longer accepting, exiting once the requests in flight ` +
        `finish${bound > 0 ? ` (at most ${bound} s)` : ''}: ${util.inspect(error)}`,
    );
    if (this.stopping) {
      this.exitStatus = UNCAUGHT_EXCEPTION_STATUS;
      return;
    }
    if (bound > 0) {
      setTimeout(() => this.host.exit('exit after an uncaught exception: requests still in flight', UNCAUGHT_EXCEPTION_STATUS), bound * 1000);
    }
    this.stop('exit after an uncaught exception', UNCAUGHT_EXCEPTION_STATUS);
  }

  exitIfDrained(): void {
    if (this.stopReason === undefined || this.exiting || this.inFlight > 0) return;
    for (const tracker of this.trackers) if (tracker.openConnections > 0) return;
    this.exiting = true;
    const reason = this.stopReason;
    // One turn of the event loop lets the last response's writes leave first.
    setImmediate(() => this.host.exit(reason, this.exitStatus));
  }
}
