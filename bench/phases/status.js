'use strict';
// The status page and pm = ondemand: ProcManager (3) with status_path and ping_path configured (B)
// against the same pool without (A), in both nginx modes, side by side (lib/ab.js); the target is no
// measurable cost, since a request for another path only compares SCRIPT_NAME with two strings. Then
// pm = ondemand: how long the first request takes when the pool has no worker (fork, boot, accept,
// answer), several times, each after the idle timeout has brought the pool back to none.

const { compareVariants, abInstances } = require('../lib/ab');
const { httpGet } = require('../lib/http');
const processes = require('../lib/processes');
const procfs = require('../lib/procfs');
const { summarize } = require('../lib/stats');

const PREFIX = 'st';
const ONDEMAND = 'ondemand-pm';
const ONDEMAND_TRIES = 5;

const variants = [{ key: 'off' }, { key: 'status', env: () => ({ BENCH_STATUS: '1' }) }];

function statusInstances(ids) {
  if (!ids.includes('pm')) return [];
  return [...abInstances(PREFIX, variants), { id: 'pm', name: ONDEMAND }];
}

async function statusPhase(ctx, ids, log) {
  if (!ids.includes('pm')) return { skipped: 'backend 3 not run' };
  const result = await compareVariants(ctx, { prefix: PREFIX, variants, log });

  // pm = ondemand's first request, from no worker.
  const instance = await ctx.launch('pm', { name: ONDEMAND, env: { BENCH_PM: 'ondemand', BENCH_IDLE_TIMEOUT: '1' }, waitReady: false });
  const firstMs = [];
  let skipped;
  try {
    await instance.proc.waitFor(/ready: 0 servers accepting \(pm = ondemand\)/, 15_000);
    for (let i = 0; i < ONDEMAND_TRIES; i++) {
      const deadline = Date.now() + 20_000;
      while (procfs.childPids(instance.proc.pid).length > 0 && Date.now() < deadline) await processes.sleep(100);
      const began = process.hrtime.bigint();
      const r = await httpGet(ctx.nginx.url('plain', ONDEMAND), { timeoutMs: 15_000 });
      const ms = Number(process.hrtime.bigint() - began) / 1e6;
      if (r.status !== 200) throw new Error(`answered ${r.status}`);
      firstMs.push(ms);
      log(`ondemand: first request from no worker answered in ${ms.toFixed(0)} ms`);
    }
  } catch (err) {
    skipped = err.message.split('\n')[0];
    log(`ondemand: ${skipped}`);
  }
  await ctx.stop(instance);
  return { ...result, ondemand: skipped ? { skipped } : { firstMs: summarize(firstMs), tries: firstMs.length } };
}

module.exports = { statusPhase, statusInstances };
