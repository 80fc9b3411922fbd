// What a worker tells its manager, over node:cluster's IPC channel. One discriminated union, so the
// manager's dispatch table (pool.ts) has a handler for every kind and the compiler checks it. Workers
// send nothing per request: reports are coalesced (worker/reporter.ts).

export type WorkerMessage =
  /** Its server accepts on the manager's socket: the worker counts as ready. */
  | { act: 'fcgi-pm:accepting' }
  /** The worker's scoreboard figures, sent at most once a second while they change. */
  | { act: 'fcgi-pm:report'; inFlight: number; served: number; oldestRequestStartedAt: number | null; rss: number; slowRequests: number }
  /** It reached max_requests or max_memory: the manager replaces it, then retires it. */
  | { act: 'fcgi-pm:recycle'; reason: string }
  /** Its event loop runs (worker_timeout): sent from a timer, which a blocked loop cannot run. */
  | { act: 'fcgi-pm:heartbeat'; inFlight: number };

export type WorkerMessageAct = WorkerMessage['act'];

const ACTS: readonly WorkerMessageAct[] = ['fcgi-pm:accepting', 'fcgi-pm:report', 'fcgi-pm:recycle', 'fcgi-pm:heartbeat'];

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  const act = (message as { act?: unknown } | null)?.act;
  return typeof act === 'string' && (ACTS as readonly string[]).includes(act);
}

/** Sends `message` to the manager, if this process has one that still listens. */
export function sendToManager(message: WorkerMessage): void {
  if (process.send && process.connected) process.send(message);
}
