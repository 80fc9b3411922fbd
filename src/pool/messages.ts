// What a worker tells its manager, over node:cluster's IPC channel. One discriminated union, so the
// manager's dispatch table (pool.ts) has a handler for every kind and the compiler checks it. Workers
// send nothing per request: reports are coalesced (worker/reporter.ts).

import type * as net from 'node:net';

export type WorkerMessage =
  /**
   * Its server accepts on the manager's socket: the worker counts as ready. With when (in ms since
   * its process began, performance.now()) Node had booted and its server began to accept.
   */
  | { act: 'fcgi-pm:accepting'; nodeBootedMs: number; acceptingMs: number }
  /** The worker's scoreboard figures, sent at most once a second while they change. */
  | {
      act: 'fcgi-pm:report';
      inFlight: number;
      served: number;
      oldestRequestStartedAt: number | null;
      rss: number;
      slowRequests: number;
      /** Its most recent request, for the status page. */
      lastRequest: { method: string; uri: string; contentLength: number; script: string; user: string } | null;
    }
  /** It reached max_requests or max_memory: the manager replaces it, then retires it. */
  | { act: 'fcgi-pm:recycle'; reason: string }
  /** Its event loop runs (worker_timeout): sent from a timer, which a blocked loop cannot run. */
  | { act: 'fcgi-pm:heartbeat'; inFlight: number }
  /** A status_path request reached it: it asks the manager for the pool's figures. */
  | { act: 'fcgi-pm:status-request'; id: number }
  /** It retires, and hands one of its kept connections, idle, to the manager for another worker
   * (the connection is the message's handle). */
  | { act: 'fcgi-pm:hand-over' };

export type WorkerMessageAct = WorkerMessage['act'];

const ACTS: readonly WorkerMessageAct[] = ['fcgi-pm:accepting', 'fcgi-pm:report', 'fcgi-pm:recycle', 'fcgi-pm:heartbeat', 'fcgi-pm:status-request', 'fcgi-pm:hand-over'];

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  const act = (message as { act?: unknown } | null)?.act;
  return typeof act === 'string' && (ACTS as readonly string[]).includes(act);
}

/** Sends `message` to the manager, if this process has one that still listens. */
export function sendToManager(message: WorkerMessage): void {
  if (process.send && process.connected) process.send(message);
}

/** What the manager tells a worker. */
export type ManagerMessage =
  /** Send your report now (a status request wants exact figures). */
  | { act: 'fcgi-pm:report-now' }
  /** The answer to a status request: the pool's figures, or why there are none. */
  | { act: 'fcgi-pm:status'; id: number; snapshot: unknown; error?: string }
  /** Sent before the TERM that retires it while other workers serve on: hand your kept connections
   * over when they fall idle, rather than close them. */
  | { act: 'fcgi-pm:hand-over-connections' }
  /** Serve this kept connection (the message's handle), handed over by a retiring worker. */
  | { act: 'fcgi-pm:adopt' };

const MANAGER_ACTS: readonly ManagerMessage['act'][] = ['fcgi-pm:report-now', 'fcgi-pm:status', 'fcgi-pm:hand-over-connections', 'fcgi-pm:adopt'];

export function isManagerMessage(message: unknown): message is ManagerMessage {
  const act = (message as { act?: unknown } | null)?.act;
  return typeof act === 'string' && (MANAGER_ACTS as readonly string[]).includes(act);
}

/** Sends `message` with `handle` (a socket) to the manager; `done` runs once it is sent or cannot be. */
export function sendToManagerWithHandle(message: WorkerMessage, handle: net.Socket, done: (err: Error | null) => void): void {
  if (!process.send || !process.connected) return done(new Error('no manager'));
  process.send(message, handle, { keepOpen: false }, (err: Error | null) => done(err));
}
