// A log file opened for appending, that can be reopened after logrotate renames it (USR1). Lines are
// gathered and written together, at most FLUSH_MS after the first of them or once FLUSH_BYTES have
// gathered, with one write(); whatever is still gathered is written when the process exits, however
// it exits. One write() per request would cost a system call per request (the bench's logging phase).

import * as fs from 'node:fs';

/** The longest a line waits before it is written. */
export const FLUSH_MS = 50;
/** What is written at once, whatever the time. */
const FLUSH_BYTES = 32 * 1024;

export class LogFile {
  private fd: number;
  private pending = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly flushOnExit = () => this.flush();

  /** Opens `path` for appending, creating it; throws (ENOENT, EACCES, EISDIR) when it cannot. */
  constructor(readonly path: string) {
    this.fd = fs.openSync(path, 'a');
    process.on('exit', this.flushOnExit);
  }

  /** Appends `text`, which ends in a newline, within FLUSH_MS. */
  write(text: string): void {
    this.pending += text;
    if (this.pending.length >= FLUSH_BYTES) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  /** Appends `text` now. */
  writeNow(text: string): void {
    this.pending += text;
    this.flush();
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === '' || this.fd < 0) return;
    const text = this.pending;
    this.pending = '';
    try {
      fs.writeSync(this.fd, text);
    } catch (err) {
      // A full disk must not take the worker with it; the line is lost and the reason told once.
      process.stderr.write(`log ${this.path}: ${(err as Error).message}\n`);
    }
  }

  /**
   * Writes what is gathered to the file it was opened as, then opens `path` again: after a rename,
   * a new file. If that fails, the old one stays in use and the error is thrown.
   */
  reopen(): void {
    this.flush();
    const fd = fs.openSync(this.path, 'a');
    fs.closeSync(this.fd);
    this.fd = fd;
  }

  close(): void {
    this.flush();
    process.removeListener('exit', this.flushOnExit);
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
