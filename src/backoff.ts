// Crash-loop backoff: how long the manager waits before it forks again.
// Pure decision logic, unit-tested apart from process I/O.
//
// Perl's FCGI::ProcManager forks again at once whenever a worker exits, so a worker that dies at
// start (a syntax error, a missing module) makes it fork hundreds of times a second. Here every
// worker that exits sooner than `minUptimeMs` after it came online counts as a quick exit; while quick
// exits follow one another the delay doubles up to `capMs`, and one worker that stays up resets it.
// The count is pool-wide because a crash loop is nearly always the app's fault, not one worker's.

export interface BackoffPolicy {
  /** Delay after the first quick exit. */
  baseMs: number;
  /** The delay never grows past this. */
  capMs: number;
  /** A worker that lived at least this long did not crash at start. */
  minUptimeMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 100, capMs: 5_000, minUptimeMs: 1_000 };

export class RespawnBackoff {
  private quickExitsInARow = 0;

  constructor(readonly policy: BackoffPolicy = DEFAULT_BACKOFF) {}

  /** A worker exited on its own (not asked to by the manager), `uptimeMs` after it came online. */
  recordExit(uptimeMs: number): void {
    if (uptimeMs < this.policy.minUptimeMs) this.quickExitsInARow++;
    else this.quickExitsInARow = 0;
  }

  /** A worker has stayed up for `minUptimeMs`: the app starts fine again. */
  recordHealthy(): void {
    this.quickExitsInARow = 0;
  }

  get quickExits(): number {
    return this.quickExitsInARow;
  }

  /** How long to wait before the next fork. */
  delayMs(): number {
    if (this.quickExitsInARow === 0) return 0;
    const { baseMs, capMs } = this.policy;
    // 2 ** 30 already exceeds any sane cap; clamping the exponent keeps the number finite.
    return Math.min(capMs, baseMs * 2 ** Math.min(this.quickExitsInARow - 1, 30));
  }
}
