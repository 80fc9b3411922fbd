'use strict';
// What the watchdog and the slow log cost: ProcManager (3) with worker_timeout (a heartbeat message
// from each worker four times per timeout) against the same pool without, and with
// request_slowlog_timeout (a thread per worker, and each request written to shared memory) against
// without; both in both nginx modes, side by side (lib/ab.js), with each worker's RSS.

const { compareVariants, abInstances } = require('../lib/ab');

const COMPARISONS = [
  { prefix: 'hb', name: 'worker_timeout=2 (heartbeat every 0.5 s)', on: { key: 'heartbeat', env: () => ({ BENCH_WORKER_TIMEOUT: '2' }) } },
  { prefix: 'slow', name: 'request_slowlog_timeout=5 (slow-log thread)', on: { key: 'slowlog', env: () => ({ BENCH_SLOWLOG_TIMEOUT: '5' }) } },
];

function timeoutsInstances(ids) {
  if (!ids.includes('pm')) return [];
  return COMPARISONS.flatMap((c) => abInstances(c.prefix, [{ key: 'off' }, c.on]));
}

async function timeoutsPhase(ctx, ids, log) {
  if (!ids.includes('pm')) return { skipped: 'backend 3 not run' };
  const comparisons = [];
  for (const c of COMPARISONS) {
    log(`timeouts: ${c.name}`);
    comparisons.push({ name: c.name, ...(await compareVariants(ctx, { prefix: c.prefix, variants: [{ key: 'off' }, c.on], log })) });
  }
  return { comparisons };
}

module.exports = { timeoutsPhase, timeoutsInstances };
