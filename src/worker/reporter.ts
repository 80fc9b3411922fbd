// The worker's side of the scoreboard: what it serves, how old its oldest request in flight is, its
// memory, and whether it should be recycled. Nothing is sent per request: a change arms one timer,
// and one report goes out when it fires (at most one a second, none while idle). One change goes at
// once: the first request after the manager last heard the worker was idle. A request that then
// blocks the event loop (when people read the status page) cannot send anything, and the manager
// would show a stuck worker as idle; so at most one report a second more, with no cost per request.

import type { WorkerMessage } from '../pool/messages';
import { type RecyclePolicy, recycleReason } from './recycle';
import { requestUri } from './request-uri';

/** The longest a change waits before the manager hears of it. */
export const REPORT_INTERVAL_MS = 1_000;
/** Reading RSS costs a few µs: after a request it is read at most this often. */
const MEMORY_CHECK_MS = 100;

export class WorkerReporter {
  /** Requests in flight, when each began and its req; a Map keeps insertion order, so the first is the oldest. */
  private readonly startedAt = new Map<object, { at: number; req: object | undefined }>();
  private served = 0;
  private timer: NodeJS.Timeout | undefined;
  private memoryCheckedAt = 0;
  private rss = 0;
  private recycleAsked = false;
  private lastRequest: object | undefined;
  /** The last report said requests were in flight: the manager does not take this worker for idle. */
  private reportedBusy = false;

  constructor(
    private readonly send: (message: WorkerMessage) => void,
    private readonly policy: RecyclePolicy,
    /** Requests that got a slow-log entry so far (counted by the slow-log thread). */
    private readonly slowRequests: () => number = () => 0,
  ) {}

  /** `request` stands for the request until it ends; `req` is kept (the latest only) for the status page. */
  requestBegan(request: object, req?: object): void {
    this.startedAt.set(request, { at: Date.now(), req });
    if (req) this.lastRequest = req;
    if (this.reportedBusy) this.changed();
    else this.flush();
  }

  requestEnded(request: object): void {
    if (!this.startedAt.delete(request)) return;
    this.served++;
    const now = Date.now();
    if (this.policy.maxMemoryBytes > 0 && now - this.memoryCheckedAt >= MEMORY_CHECK_MS) this.readMemory(now);
    this.checkRecycle();
    this.changed();
  }

  /**
   * worker_timeout: tells the manager every `intervalMs` that the event loop runs. From a timer, so a
   * blocked loop stops it; unref'd, so it keeps nothing alive.
   */
  startHeartbeat(intervalMs: number): void {
    setInterval(() => {
      const inFlight = this.startedAt.size;
      this.reportedBusy = inFlight > 0; // the manager takes its count from the heartbeat too
      this.send({ act: 'fcgi-pm:heartbeat', inFlight });
    }, intervalMs).unref();
  }

  /** Sends the pending report now (the timer does this; a test or a shutdown may too). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.readMemory(Date.now());
    this.checkRecycle();
    const oldest = this.startedAt.values().next();
    this.reportedBusy = this.startedAt.size > 0;
    this.send({
      act: 'fcgi-pm:report',
      inFlight: this.startedAt.size,
      served: this.served,
      oldestRequestStartedAt: oldest.done ? null : oldest.value.at,
      oldestRequestUri: oldest.done || !oldest.value.req ? null : (requestUri(oldest.value.req) ?? null),
      rss: this.rss,
      slowRequests: this.slowRequests(),
      lastRequest: this.lastRequest ? describeRequest(this.lastRequest) : null,
    });
  }

  private changed(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), REPORT_INTERVAL_MS);
    this.timer.unref();
  }

  private readMemory(now: number): void {
    this.memoryCheckedAt = now;
    this.rss = process.memoryUsage.rss();
  }

  private checkRecycle(): void {
    if (this.recycleAsked) return;
    const reason = recycleReason(this.policy, this.served, this.rss);
    if (reason === undefined) return;
    this.recycleAsked = true;
    this.send({ act: 'fcgi-pm:recycle', reason });
  }
}

/** The fields of a request that the status page shows (PHP-FPM's request method, uri, ...). */
function describeRequest(request: object): { method: string; uri: string; contentLength: number; script: string; user: string } {
  const req = request as { method?: string; url?: string; cgiParams?: Record<string, string>; headers?: Record<string, string | undefined> };
  const params = req.cgiParams ?? {};
  return {
    method: req.method ?? '-',
    uri: requestUri(req) ?? '-',
    contentLength: Number(params.CONTENT_LENGTH ?? req.headers?.['content-length'] ?? 0) || 0,
    script: params.SCRIPT_FILENAME || '-',
    user: params.REMOTE_USER || '-',
  };
}
