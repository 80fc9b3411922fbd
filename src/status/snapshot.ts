// What the status page shows: the pool's figures at one moment, PHP-FPM's keys and ours. Built by
// the manager from its scoreboard (pool.ts), read by the formats (formats.ts). Plain data, so it
// crosses the IPC channel to the worker that answers the status request as it is.

export type ProcessManagerKind = 'static' | 'dynamic' | 'ondemand';

/** One worker, with PHP-FPM 8.2's per-process keys and ours. */
export interface ProcessSnapshot {
  pid: number;
  /** PHP-FPM's: 'Idle' (no request in flight) or 'Running'; ours adds 'Starting' and 'Finishing' (retiring). */
  state: 'Idle' | 'Running' | 'Starting' | 'Finishing';
  /** Seconds since the epoch. */
  startTime: number;
  startSince: number;
  requests: number;
  /** µs: how long the oldest request in flight has run, or 0. */
  requestDuration: number;
  requestMethod: string;
  requestUri: string;
  contentLength: number;
  user: string;
  script: string;
  lastRequestCpu: number;
  lastRequestMemory: number;
  // ---- ours ----
  slot: number;
  generation: number;
  requestsInFlight: number;
  rssBytes: number;
  slowRequests: number;
  /** Fork to accepting, in ms (0 until it accepts). */
  bootMs: number;
  /** The URI of the oldest request in flight ('-' when none): what requestDuration times. */
  oldestRequestUri: string;
}

export interface PoolSnapshot {
  pool: string;
  processManager: ProcessManagerKind;
  /** Seconds since the epoch. */
  startTime: number;
  startSince: number;
  acceptedConn: number;
  /** Connections waiting in the socket's backlog now; undefined where it cannot be read. */
  listenQueue: number | undefined;
  maxListenQueue: number;
  listenQueueLen: number;
  idleProcesses: number;
  activeProcesses: number;
  totalProcesses: number;
  maxActiveProcesses: number;
  maxChildrenReached: number;
  slowRequests: number;
  // ---- ours (PHP-FPM lacks them) ----
  /** The configured maximum (php-src #16221). */
  maxChildren: number;
  requestsInFlight: number;
  generation: number;
  reloads: number;
  recycles: number;
  /** Kept connections passed from retiring workers to serving ones (none closed under the web server). */
  handedOverConnections: number;
  watchdogKills: number;
  /** Workers that exited right after start, in the crash loop's current run; 0 when healthy. */
  quickExits: number;
  /** The backoff before the next fork, in ms (0: none). */
  respawnDelayMs: number;
  /**
   * The busiest accepting worker's requests per second over the least busy one's (1: even), each
   * since it began accepting; null until two workers have accepted for 5 s and served.
   */
  requestSpread: number | null;
  /** running, reloading (a rolling reload under way) or stopping. */
  state: 'running' | 'reloading' | 'stopping';
  processes: ProcessSnapshot[];
}
