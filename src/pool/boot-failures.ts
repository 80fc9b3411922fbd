// An app that cannot load: a syntax error, a missing module, a TypeScript file with no loader. Its
// workers all fail before they accept, and forking them again forever only fills the log while
// connections wait in the socket's backlog. gunicorn halts with "Worker failed to boot", PM2 stops
// after max_restarts. Here, when BOOT_ATTEMPTS workers in a row have exited before accepting and no
// worker of the pool has ever accepted, the manager gives up and exits BOOT_FAILURE_STATUS (as
// gunicorn's arbiter does), which closes the socket: waiting connections are refused, not left to
// hang. A pool that has served once is never given up on (a broken release during a reload is
// abandoned and the old generation serves on; a later crash loop is a backoff's business). Pure.

/** Workers in a row that may fail before the first ever accepts. */
export const BOOT_ATTEMPTS = 5;
/** The manager's exit status when it gives up (gunicorn's WORKER_BOOT_ERROR). */
export const BOOT_FAILURE_STATUS = 3;

export class BootFailures {
  private everAccepted = false;
  private failuresInARow = 0;

  /** A worker began to accept. */
  accepted(): void {
    this.everAccepted = true;
    this.failuresInARow = 0;
  }

  /** A worker exited on its own (not retired by the manager); `hadAccepted` if it ever accepted. */
  exited(hadAccepted: boolean): void {
    if (!hadAccepted) this.failuresInARow++;
  }

  get failures(): number {
    return this.failuresInARow;
  }

  /** No worker of the pool has ever accepted, and BOOT_ATTEMPTS in a row failed before accepting. */
  get givingUp(): boolean {
    return !this.everAccepted && this.failuresInARow >= BOOT_ATTEMPTS;
  }
}
