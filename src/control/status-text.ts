// `fcgi-pm status` as text: the pool in three lines, then a table with one row per worker. Pure.

import type { PoolSnapshot, ProcessSnapshot } from '../status/snapshot';

/** 45s, 5m12s, 3h04m, 2d03h. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor(s / 3600) % 24)}h`;
}

export function formatMiB(bytes: number): string {
  return bytes > 0 ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : '-';
}

/** `1 server`, `2 servers`. */
export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Columns padded to their widest cell; the last one is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export const WORKER_COLUMNS = ['PID', 'SLOT', 'GEN', 'STATE', 'REQUESTS', 'IN FLIGHT', 'OLDEST', 'OLDEST URI', 'RSS', 'UPTIME'] as const;

function workerRow(p: ProcessSnapshot): string[] {
  const oldest = p.requestDuration > 0 ? `${(p.requestDuration / 1e6).toFixed(1)}s` : '-';
  return [String(p.pid), String(p.slot), String(p.generation), p.state, String(p.requests), String(p.requestsInFlight), oldest, p.oldestRequestUri, formatMiB(p.rssBytes), formatDuration(p.startSince)];
}

export function renderStatus(manager: { pid: number; title: string }, pool: PoolSnapshot): string {
  const queue = pool.listenQueue === undefined ? 'listen queue unknown' : `listen queue ${pool.listenQueue} of ${pool.listenQueueLen}`;
  const sizes = pool.processManager === 'static' ? `${plural(pool.maxChildren, 'server')} wanted` : `max_children ${pool.maxChildren}`;
  const lines = [
    `${manager.title} (pid ${manager.pid}): ${pool.state}, generation ${pool.generation}, pm ${pool.processManager}, up ${formatDuration(pool.startSince)}`,
    `${sizes}: ${pool.activeProcesses} busy, ${pool.idleProcesses} idle, ${pool.totalProcesses - pool.activeProcesses - pool.idleProcesses} starting or finishing; ` +
      `${plural(pool.requestsInFlight, 'request')} in flight, ${pool.acceptedConn} accepted, ${queue}` +
      (pool.requestSpread === null ? '' : `, spread ${pool.requestSpread.toFixed(2)}× (busiest / least busy worker)`),
    `reloads ${pool.reloads}, recycles ${pool.recycles}, slow requests ${pool.slowRequests}, watchdog kills ${pool.watchdogKills}` +
      (pool.quickExits > 0 ? `, ${plural(pool.quickExits, 'quick exit')} (next fork in ${pool.respawnDelayMs / 1000} s)` : ''),
    '',
    table([[...WORKER_COLUMNS], ...pool.processes.map(workerRow)]),
  ];
  return `${lines.join('\n')}\n`;
}
