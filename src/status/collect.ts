// Builds the status page's PoolSnapshot from the pool's scoreboard and the socket's listen queue.
// `collectSnapshot` is pure; `StatusCollector` keeps what must outlive one request (the most
// connections seen queued) and reads the queue.

import type { Scoreboard } from '../pool/pool';
import type { WorkerHandle } from '../pool/worker-handle';
import { type ListenQueue, readListenQueue } from '../socket/listen-queue';
import type { PoolSnapshot, ProcessManagerKind, ProcessSnapshot } from './snapshot';

export interface CollectOptions {
  pool: string;
  processManager: ProcessManagerKind;
  now: number;
  listenQueue: ListenQueue | undefined;
  /** The backlog the manager asked for, when the socket does not say. */
  configuredBacklog: number;
  maxListenQueue: number;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

/** A worker's rate is compared with its peers' once it has accepted this long. */
export const SPREAD_MIN_ACCEPTING_MS = 5_000;

/**
 * How evenly the load spreads: the busiest serving worker's requests per second (since it began
 * accepting) over the least busy one's, a worker with none counted as having served one. Null with
 * fewer than two workers accepting for SPREAD_MIN_ACCEPTING_MS, or none served yet.
 */
export function requestSpread(workers: readonly { requests: number; acceptingMs: number }[]): number | null {
  const compared = workers.filter((w) => w.acceptingMs >= SPREAD_MIN_ACCEPTING_MS);
  if (compared.length < 2 || compared.every((w) => w.requests === 0)) return null;
  const rates = compared.map((w) => Math.max(1, w.requests) / w.acceptingMs);
  return Math.max(...rates) / Math.min(...rates);
}

function processState(h: WorkerHandle): ProcessSnapshot['state'] {
  if (h.state === 'starting') return 'Starting';
  if (h.state === 'retiring' || h.state === 'exiting') return 'Finishing';
  return h.inFlight > 0 ? 'Running' : 'Idle';
}

function processOf(h: WorkerHandle, now: number): ProcessSnapshot {
  const last = h.lastRequest;
  return {
    pid: h.pid,
    state: processState(h),
    startTime: seconds(h.forkedAt),
    startSince: seconds(now - h.forkedAt),
    requests: h.served + h.inFlight,
    requestDuration: h.oldestRequestStartedAt === null ? 0 : Math.max(0, now - h.oldestRequestStartedAt) * 1000,
    requestMethod: last?.method ?? '-',
    requestUri: last?.uri ?? '-',
    contentLength: last?.contentLength ?? 0,
    user: last?.user ?? '-',
    script: last?.script ?? '-',
    lastRequestCpu: 0,
    lastRequestMemory: 0,
    slot: h.slot,
    generation: h.generation,
    requestsInFlight: h.inFlight,
    rssBytes: h.rss,
    slowRequests: h.slowRequests,
    bootMs: Math.round(h.bootMs ?? 0),
    oldestRequestUri: h.oldestRequestStartedAt === null ? '-' : (h.oldestRequestUri ?? '-'),
  };
}

export function collectSnapshot(board: Scoreboard, o: CollectOptions): PoolSnapshot {
  const processes = [...board.handles].sort((a, b) => a.slot - b.slot).map((h) => processOf(h, o.now));
  const serving = processes.filter((p) => p.state === 'Idle' || p.state === 'Running');
  const active = serving.filter((p) => p.state === 'Running').length;
  const inFlight = processes.reduce((n, p) => n + p.requestsInFlight, 0);
  const accepting = board.handles.filter((h) => h.serving && h.acceptingAt !== undefined);
  const spread = requestSpread(accepting.map((h) => ({ requests: h.served + h.inFlight, acceptingMs: o.now - h.acceptingAt! })));
  return {
    pool: o.pool,
    processManager: o.processManager,
    startTime: seconds(board.startedAt),
    startSince: seconds(o.now - board.startedAt),
    acceptedConn: board.servedByExited + processes.reduce((n, p) => n + p.requests, 0),
    listenQueue: o.listenQueue?.queued,
    maxListenQueue: Math.max(o.maxListenQueue, o.listenQueue?.queued ?? 0),
    listenQueueLen: o.listenQueue?.backlog ?? o.configuredBacklog,
    idleProcesses: serving.length - active,
    activeProcesses: active,
    totalProcesses: processes.length,
    maxActiveProcesses: Math.max(board.maxActive, active),
    maxChildrenReached: board.maxChildrenReached,
    slowRequests: processes.reduce((n, p) => n + p.slowRequests, 0),
    maxChildren: board.maxChildren,
    requestsInFlight: inFlight,
    generation: board.generation,
    reloads: board.reloads,
    recycles: board.recycles,
    handedOverConnections: board.handedOverConnections,
    watchdogKills: board.watchdogKills,
    quickExits: board.quickExits,
    respawnDelayMs: board.respawnDelayMs,
    requestSpread: spread === null ? null : Math.round(spread * 100) / 100,
    state: board.state,
    processes,
  };
}

export class StatusCollector {
  private maxListenQueue = 0;

  constructor(
    private readonly socketFd: number,
    private readonly options: { pool: string; configuredBacklog: number },
  ) {}

  async snapshot(board: Scoreboard): Promise<PoolSnapshot> {
    const listenQueue = await readListenQueue(this.socketFd);
    const snapshot = collectSnapshot(board, { ...this.options, processManager: board.processManager, now: Date.now(), listenQueue, maxListenQueue: this.maxListenQueue });
    this.maxListenQueue = snapshot.maxListenQueue;
    return snapshot;
  }
}
