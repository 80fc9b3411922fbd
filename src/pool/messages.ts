// What a worker tells its manager, over node:cluster's IPC channel. One discriminated union, so the
// manager's dispatch table (pool.ts) has a handler for every kind and the compiler checks it. Workers
// send nothing per request: reports are coalesced (worker/reporter.ts).

export type WorkerMessage =
  /** Its server accepts on the manager's socket: the worker counts as ready. */
  | { act: 'fcgi-pm:accepting' }
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
  | { act: 'fcgi-pm:status-request'; id: number };

export type WorkerMessageAct = WorkerMessage['act'];

const ACTS: readonly WorkerMessageAct[] = ['fcgi-pm:accepting', 'fcgi-pm:report', 'fcgi-pm:recycle', 'fcgi-pm:heartbeat', 'fcgi-pm:status-request'];

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
  | { act: 'fcgi-pm:status'; id: number; snapshot: unknown; error?: string };

export function isManagerMessage(message: unknown): message is ManagerMessage {
  const act = (message as { act?: unknown } | null)?.act;
  return act === 'fcgi-pm:report-now' || act === 'fcgi-pm:status';
}
