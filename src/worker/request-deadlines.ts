// request_terminate_timeout: requests in flight longer than the timeout are handed to `expired`.
// One sweep timer per worker, armed only while requests are in flight, instead of a timer per
// request; requests are kept in the order they began, so a sweep stops at the first young one.

/** How often the sweep runs: a tenth of the timeout, within [10 ms, 1 s]. */
export function sweepIntervalMs(timeoutMs: number): number {
  return Math.min(1_000, Math.max(10, Math.round(timeoutMs / 10)));
}

interface InFlight<Req> {
  req: Req;
  startedAt: number;
}

export class RequestDeadlines<Req, Res extends object> {
  private readonly inFlight = new Map<Res, InFlight<Req>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly expired: (req: Req, res: Res, elapsedMs: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  began(req: Req, res: Res): void {
    this.inFlight.set(res, { req, startedAt: this.now() });
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), sweepIntervalMs(this.timeoutMs));
      this.timer.unref();
    }
  }

  ended(res: Res): void {
    this.inFlight.delete(res);
    if (this.inFlight.size === 0) this.disarm();
  }

  /** Hands over every request past its deadline (each once), oldest first. */
  sweep(): void {
    const now = this.now();
    for (const [res, { req, startedAt }] of this.inFlight) {
      const elapsed = now - startedAt;
      if (elapsed < this.timeoutMs) break;
      this.inFlight.delete(res);
      this.expired(req, res, elapsed);
    }
    if (this.inFlight.size === 0) this.disarm();
  }

  private disarm(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
