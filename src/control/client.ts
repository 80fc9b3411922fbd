// The commands' end of the control socket: one connection, requests sent one at a time, each
// answer read as its line arrives. Connection errors become one line and an LSB exit status.

import * as net from 'node:net';
import { LineSplitter } from '../log/line-splitter';
import type { ControlAnswer, ControlRequest } from './protocol';
import { encodeLine } from './protocol';

/** LSB's exit statuses that a command passes on: 3 for "not running", 4 for "insufficient privilege". */
export const EXIT_NOT_RUNNING = 3;
export const EXIT_NOT_ALLOWED = 4;

export class ControlError extends Error {
  constructor(
    message: string,
    readonly exitStatus: number,
  ) {
    super(message);
  }
}

export class ControlConnection {
  private readonly lines = new LineSplitter();
  private readonly answers: string[] = [];
  private waiting: { resolve(line: string): void; reject(err: Error): void } | undefined;
  private closedWith: Error | undefined;
  private readonly closed: Promise<void>;

  private constructor(
    private readonly socket: net.Socket,
    private readonly file: string,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.answers.push(...this.lines.push(chunk).filter((line) => line.trim() !== ''));
      this.deliver();
    });
    socket.on('error', () => {}); // 'close' follows, and says it
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closedWith = new ControlError(`${file}: the manager closed the connection before it answered (it has exited)`, 1);
        this.deliver();
        resolve();
      }),
    );
  }

  /** Connects to the socket at `file`; rejects with a ControlError that says whether a pool runs there. */
  static open(file: string): Promise<ControlConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(file);
      socket.once('connect', () => resolve(new ControlConnection(socket, file)));
      socket.once('error', (err: NodeJS.ErrnoException) => reject(connectError(file, err)));
    });
  }

  /**
   * Sends `request` and resolves with its answer; rejects if the manager goes first, or (timeoutMs >
   * 0) if it has not answered by then: a manager that is stopped (SIGSTOP) or blocked answers nothing.
   */
  async request(request: ControlRequest, timeoutMs = 0): Promise<ControlAnswer> {
    let timer: NodeJS.Timeout | undefined;
    const line = await new Promise<string>((resolve, reject) => {
      this.waiting = { resolve, reject };
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.waiting = undefined;
          reject(new ControlError(`${this.file}: no answer within ${timeoutMs / 1000} s`, 1));
        }, timeoutMs);
      }
      this.socket.write(encodeLine(request));
      this.deliver();
    }).finally(() => clearTimeout(timer));
    try {
      return JSON.parse(line) as ControlAnswer;
    } catch {
      throw new ControlError(`${this.file}: not an answer of fcgi-pm's: ${line.slice(0, 200)}`, 1);
    }
  }

  get isClosed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Resolves when the manager has closed the connection (it closes when it exits), or after `timeoutMs`. */
  async closedByManager(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const closed = await Promise.race([this.closed.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return closed;
  }

  close(): void {
    this.socket.destroy();
  }

  private deliver(): void {
    const waiting = this.waiting;
    if (!waiting) return;
    const line = this.answers.shift();
    if (line !== undefined) {
      this.waiting = undefined;
      waiting.resolve(line);
    } else if (this.closedWith) {
      this.waiting = undefined;
      waiting.reject(this.closedWith);
    }
  }
}

function connectError(file: string, err: NodeJS.ErrnoException): ControlError {
  switch (err.code) {
    case 'ENOENT':
      return new ControlError(`no pool is running: nothing at ${file}`, EXIT_NOT_RUNNING);
    case 'ECONNREFUSED':
      return new ControlError(`no pool is running: ${file} is left from one that has exited`, EXIT_NOT_RUNNING);
    case 'EACCES':
    case 'EPERM':
      return new ControlError(`${file}: permission denied: only the pool's owner (and its control_group) may use its control socket`, EXIT_NOT_ALLOWED);
    default:
      return new ControlError(`${file}: ${err.code ?? err.message}`, 1);
  }
}
