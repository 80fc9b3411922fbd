// `fcgi-pm top`'s screen: the pool, then one row per worker with bars of its requests per second
// and its RSS, from two status answers a moment apart. Pure: the command draws it.

import type { PoolSnapshot } from '../status/snapshot';
import { formatDuration, formatMiB, plural, table } from './status-text';

const BAR_WIDTH = 20;

/** A bar of `width` cells, filled in proportion to value / max. */
export function bar(value: number, max: number, width = BAR_WIDTH): string {
  const filled = max > 0 ? Math.min(width, Math.round((value / max) * width)) : 0;
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** Requests per second of each worker between the two snapshots (none for one new since). */
export function requestRates(previous: PoolSnapshot | undefined, current: PoolSnapshot, seconds: number): Map<number, number> {
  const rates = new Map<number, number>();
  if (!previous || seconds <= 0) return rates;
  const before = new Map(previous.processes.map((p) => [p.pid, p.requests]));
  for (const p of current.processes) {
    const was = before.get(p.pid);
    if (was !== undefined) rates.set(p.pid, Math.max(0, p.requests - was) / seconds);
  }
  return rates;
}

export function renderTop(manager: { pid: number; title: string }, current: PoolSnapshot, rates: Map<number, number>): string {
  const total = [...rates.values()].reduce((a, b) => a + b, 0);
  const maxRate = Math.max(1, ...rates.values());
  const maxRss = Math.max(1, ...current.processes.map((p) => p.rssBytes));
  const queue = current.listenQueue === undefined ? '' : ` · listen queue ${current.listenQueue} of ${current.listenQueueLen}`;
  const header = [
    `${manager.title} (pid ${manager.pid}) · ${current.state} · generation ${current.generation} · pm ${current.processManager} · up ${formatDuration(current.startSince)}`,
    `${plural(current.totalProcesses, 'server')}: ${current.activeProcesses} busy, ${current.idleProcesses} idle · ${total.toFixed(1)} req/s · ${current.requestsInFlight} in flight${queue}` +
      (current.requestSpread === null ? '' : ` · spread ${current.requestSpread.toFixed(2)}×`),
    '',
  ];
  const rows = current.processes.map((p) => {
    const rate = rates.get(p.pid);
    return [
      String(p.pid),
      String(p.generation),
      p.state,
      `${bar(rate ?? 0, maxRate)} ${rate === undefined ? '-' : rate.toFixed(1)}`,
      String(p.requestsInFlight),
      `${bar(p.rssBytes, maxRss, BAR_WIDTH / 2)} ${formatMiB(p.rssBytes)}`,
    ];
  });
  return [...header, table([['PID', 'GEN', 'STATE', 'REQ/S', 'IN FLIGHT', 'RSS'], ...rows]), '', 'q or Ctrl-C to quit'].join('\n');
}
