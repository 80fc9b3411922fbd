// Where the library's own lines go: to a `logger` the application gives (pino, console, ...), or
// to the built-in log, which is stderr byte for byte as Perl writes it, or `log_file`, each line
// optionally behind an ISO time; or, with log_format json, one JSON object a line. The built-in log
// also takes the lines the workers write on their stdout and stderr (worker-output.ts), so one file
// holds the whole pool's output, line by line.

import { LogFile } from './log-file';

/** Any object with these three methods; each is called with one line, without its newline. */
export interface Logger {
  info(message: string): unknown;
  warn(message: string): unknown;
  error(message: string): unknown;
}

export type LogLevel = keyof Logger;

export type LogFormat = 'text' | 'json';

/** An event's own fields, added to its JSON line (the worker's pid, the generation, the exit status). */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

/** Who writes a line: `FastCGI: <role> (pid <pid>): ...` in text. */
export interface LineSource {
  role: string;
  pid: number;
}

export interface LogSettings {
  logger?: Logger | undefined;
  /** Append to this file instead of stderr. */
  file?: string | undefined;
  /** Begin each line with the time, in ISO 8601 (UTC, milliseconds). */
  timestamps?: boolean | undefined;
  format?: LogFormat | undefined;
}

export class Log {
  private readonly file: LogFile | undefined;
  private readonly json: boolean;

  /** Opens the log file, if there is one; throws when it cannot be opened. */
  constructor(private readonly settings: LogSettings = {}) {
    if (settings.file && !settings.logger) this.file = new LogFile(settings.file);
    this.json = settings.format === 'json' && !settings.logger;
  }

  /** True when the workers' stdout and stderr should come through this log (a file, timestamps, JSON). */
  get takesWorkerOutput(): boolean {
    return !this.settings.logger && (this.file !== undefined || Boolean(this.settings.timestamps) || this.json);
  }

  write(level: LogLevel, source: LineSource, msg: string, fields?: LogFields): void {
    const line = `FastCGI: ${source.role} (pid ${source.pid}): ${msg}`;
    const { logger } = this.settings;
    if (logger) {
      logger[level](line);
      return;
    }
    const text = this.json ? jsonLine(level, source, msg, fields) : `${this.stamp()}${line}\n`;
    if (this.file) this.file.writeNow(text);
    else writeToStream(process.stderr, text);
  }

  /**
   * Whole lines that a worker wrote on its stdout or stderr. In JSON, a line that is already one of
   * the pool's own (a worker's lifecycle line) goes as it is; the app's own lines are wrapped, with the
   * worker's pid and the stream.
   */
  writeWorkerLines(stream: 'stdout' | 'stderr', lines: readonly string[], pid: number): void {
    if (lines.length === 0) return;
    let text = '';
    if (this.json) {
      for (const line of lines) text += isWorkerJsonLine(line, pid) ? `${line}\n` : jsonLine('info', { role: 'app', pid }, line, { stream });
    } else {
      const stamp = this.stamp();
      for (const line of lines) text += `${stamp}${line}\n`;
    }
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

/** `{"time":…,"level":…,"pid":…,"role":…,"msg":…,…fields}` and a newline; a field cannot replace the five. */
export function jsonLine(level: LogLevel, source: LineSource, msg: string, fields?: LogFields): string {
  const entry: Record<string, unknown> = { time: new Date().toISOString(), level, pid: source.pid, role: source.role, msg };
  for (const [key, value] of Object.entries(fields ?? {})) if (!(key in entry)) entry[key] = value;
  return `${JSON.stringify(entry)}\n`;
}

/**
 * A line the worker's own log wrote in JSON: passed through as it is. Only as the worker `pid` itself,
 * role server: an app's line cannot pass for the manager's or another worker's.
 */
function isWorkerJsonLine(line: string, pid: number): boolean {
  if (!line.startsWith('{"time":')) return false;
  try {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    return parsed.role === 'server' && parsed.pid === pid && typeof parsed.msg === 'string';
  } catch {
    return false;
  }
}

function writeToStream(stream: NodeJS.WriteStream, text: string): void {
  try {
    stream.write(text);
  } catch {
    // stderr closed: nowhere left to say anything
  }
}
