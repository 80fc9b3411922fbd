// request_slowlog_timeout, the main thread's side: each request in flight is written to shared
// memory (slowlog-board.ts), and a tick from a timer tells whether the event loop runs. The
// slow-log thread (slowlog-thread.ts) reads both and writes the entries, so a blocked loop still
// gets its entry, with its stack.

import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { SlowlogBoard } from './slowlog-board';
import type { SlowlogThreadData } from './slowlog-thread';
import { requestUri } from './request-uri';

export interface SlowlogOptions {
  timeoutSeconds: number;
  file: string | undefined;
  pool: string;
  warn(msg: string): void;
}

interface LoggedRequest {
  method?: string | undefined;
  url?: string | undefined;
}

export class SlowLog {
  private readonly board = new SlowlogBoard();
  private readonly slots = new Map<object, number>();
  private readonly thread: Worker;

  constructor(options: SlowlogOptions) {
    const timeoutMs = options.timeoutSeconds * 1000;
    // A loop that has not ticked for half the timeout (within [100 ms, 1 s]) is blocked.
    const blockedAfterMs = Math.min(1_000, Math.max(100, timeoutMs / 2));
    const tickMs = blockedAfterMs / 4;
    const workerData: SlowlogThreadData = {
      buffer: this.board.buffer,
      timeoutMs,
      blockedAfterMs,
      checkEveryMs: Math.min(1_000, Math.max(20, timeoutMs / 10)),
      file: options.file,
      pool: options.pool,
      pid: process.pid,
    };
    // No execArgv: a preload given to the worker (fcgi-pm's) is not for this thread.
    this.thread = new Worker(path.join(__dirname, 'slowlog-thread.js'), { workerData, execArgv: [], stdout: false, stderr: false });
    this.thread.unref();
    this.thread.on('error', (err: unknown) => options.warn(`slowlog: the slow-log thread failed: ${err instanceof Error ? err.message : String(err)}; no more slow-log entries`));
    this.board.tick(Date.now());
    setInterval(() => this.board.tick(Date.now()), tickMs).unref();
  }

  began(req: LoggedRequest, res: object): void {
    this.slots.set(res, this.board.began(`${req.method ?? '-'} ${requestUri(req) ?? ''}`, Date.now()));
  }

  ended(res: object): void {
    const slot = this.slots.get(res);
    if (slot === undefined) return;
    this.slots.delete(res);
    this.board.ended(slot);
  }

  /** Requests that got a slow-log entry, since the worker started. */
  get slowRequests(): number {
    return this.board.slowRequests;
  }

  /** USR1: the thread opens the slow log again. */
  reopen(): void {
    this.thread.postMessage('reopen');
  }
}
