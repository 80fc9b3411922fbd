// What a worker tells its manager, over node:cluster's IPC channel. One discriminated union, so the
// manager's dispatch table (pool.ts) has a handler for every kind and the compiler checks it. Workers
// send nothing per request: reports are coalesced (worker/reporter.ts).

import type { Worker } from 'node:cluster';
import type * as net from 'node:net';

export type WorkerMessage =
  /** Its server accepts on the manager's socket: the worker counts as ready. */
  | { act: 'fcgi-pm:accepting' }
  /** The worker's scoreboard figures, sent at most once a second while they change. */
  | {
      act: 'fcgi-pm:report';
      inFlight: number;
      served: number;
      oldestRequestStartedAt: number | null;
      /** The URI of that oldest request (null when none, or not known). */
      oldestRequestUri: string | null;
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
  | { act: 'fcgi-pm:hand-over' }
  /** It stops and has nothing left: it exits once the manager answers (nothing more is sent to it). */
  | { act: 'fcgi-pm:drained' }
  /** An exception before it ever accepted (the app failed to load): it exits right after this. The
   * manager logs the error, once for as long as the next workers fail with the same one. */
  | { act: 'fcgi-pm:boot-failed'; error: string };

export type WorkerMessageAct = WorkerMessage['act'];

const ACTS: readonly WorkerMessageAct[] = ['fcgi-pm:accepting', 'fcgi-pm:report', 'fcgi-pm:recycle', 'fcgi-pm:heartbeat', 'fcgi-pm:status-request', 'fcgi-pm:hand-over', 'fcgi-pm:drained', 'fcgi-pm:boot-failed'];

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
  | { act: 'fcgi-pm:adopt' }
  /** The answer to its 'drained': every connection sent to it before has arrived; it may exit. */
  | { act: 'fcgi-pm:drained' };

const MANAGER_ACTS: readonly ManagerMessage['act'][] = ['fcgi-pm:report-now', 'fcgi-pm:status', 'fcgi-pm:hand-over-connections', 'fcgi-pm:adopt', 'fcgi-pm:drained'];

export function isManagerMessage(message: unknown): message is ManagerMessage {
  const act = (message as { act?: unknown } | null)?.act;
  return typeof act === 'string' && (MANAGER_ACTS as readonly string[]).includes(act);
}

/**
 * Sends `message` (and `handle`, a socket) to a worker. Always with a callback: without one, a
 * write to a worker that has just exited (EPIPE) is an 'error' event on the cluster Worker, which
 * nothing listens to, and would take the manager down. That worker's exit is handled where it is
 * reaped; `done` hears whether the message went.
 */
export function sendToWorker(worker: Worker, message: ManagerMessage, handle?: net.Socket, done: (err: Error | null) => void = () => {}): void {
  if (!worker.isConnected()) return done(new Error('the worker is gone'));
  if (handle) worker.send(message, handle, { keepOpen: false }, (err: Error | null) => done(err));
  else worker.send(message, (err: Error | null) => done(err));
}

/** Sends `message` with `handle` (a socket) to the manager; `done` runs once it is sent or cannot be. */
export function sendToManagerWithHandle(message: WorkerMessage, handle: net.Socket, done: (err: Error | null) => void): void {
  if (!process.send || !process.connected) return done(new Error('no manager'));
  process.send(message, handle, { keepOpen: false }, (err: Error | null) => done(err));
}
