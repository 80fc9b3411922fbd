// Where the library's own lines go: to a `logger` the application gives (pino, console, ...), or
// to the built-in log, which is stderr byte for byte as Perl writes it, or `log_file`, each line
// optionally behind an ISO time. The built-in log also takes the lines the workers write on their
// stdout and stderr (worker-output.ts), so one file holds the whole pool's output, line by line.

import { LogFile } from './log-file';

/** Any object with these three methods; each is called with one line, without its newline. */
export interface Logger {
  info(message: string): unknown;
  warn(message: string): unknown;
  error(message: string): unknown;
}

export type LogLevel = keyof Logger;

export interface LogSettings {
  logger?: Logger | undefined;
  /** Append to this file instead of stderr. */
  file?: string | undefined;
  /** Begin each line with the time, in ISO 8601 (UTC, milliseconds). */
  timestamps?: boolean | undefined;
}

export class Log {
  private readonly file: LogFile | undefined;

  /** Opens the log file, if there is one; throws when it cannot be opened. */
  constructor(private readonly settings: LogSettings = {}) {
    if (settings.file && !settings.logger) this.file = new LogFile(settings.file);
  }

  /** True when the workers' stdout and stderr should come through this log (a file, or timestamps). */
  get takesWorkerOutput(): boolean {
    return !this.settings.logger && (this.file !== undefined || Boolean(this.settings.timestamps));
  }

  write(level: LogLevel, line: string): void {
    const { logger } = this.settings;
    if (logger) {
      logger[level](line);
      return;
    }
    const text = `${this.stamp()}${line}\n`;
    if (this.file) this.file.writeNow(text);
    else writeToStream(process.stderr, text);
  }

  /** Whole lines that a worker wrote on its stdout or stderr. */
  writeWorkerLines(stream: 'stdout' | 'stderr', lines: readonly string[]): void {
    if (lines.length === 0) return;
    const stamp = this.stamp();
    let text = '';
    for (const line of lines) text += `${stamp}${line}\n`;
    if (this.file) this.file.write(text);
    else writeToStream(stream === 'stdout' ? process.stdout : process.stderr, text);
  }

  /** USR1: opens the log file again under its name (logrotate has renamed the old one). */
  reopen(): void {
    this.file?.reopen();
  }

  private stamp(): string {
    return this.settings.timestamps ? `${new Date().toISOString()} ` : '';
  }
}

function writeToStream(stream: NodeJS.WriteStream, text: string): void {
  try {
    stream.write(text);
  } catch {
    // stderr closed: nowhere left to say anything
  }
}
