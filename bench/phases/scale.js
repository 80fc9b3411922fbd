'use strict';
// Scale: a manager with many workers (64 by default). Time until all of them are ready, the
// manager's RSS and idle CPU, and the workers' RSS beside one bare node-fastcgi process.
// Perl's and PHP-FPM's pools of the same size are measured alike, for comparison.

const procfs = require('../lib/procfs');
const processes = require('../lib/processes');
const { waitUntilAnswers } = require('../lib/http');
const { READY_LINE } = require('../lib/backends');

/** Lets start-up work (JIT, lazy loading) finish before the idle window. */
const SETTLE_MS = 1_000;

async function scalePhase(ctx, ids, log) {
  const { options, nginx } = ctx;
  const n = options.scaleWorkers;
  const results = {};
  for (const id of ids.filter((x) => ['pm', 'perl', 'php'].includes(x))) {
    const name = `scale-${id}`;
    const instance = await ctx.launch(id, { name, workers: n, waitReady: false });
    const t0 = instance.startedAtNs;
    const sinceStart = () => Number(process.hrtime.bigint() - t0) / 1e6;
    // Every pool: until it has n live workers, and until it answers. Ours also says when every
    // worker accepts on the socket (each sends a message once it listens); the others cannot tell.
    const deadline = Date.now() + 120_000;
    while (procfs.childPids(instance.proc.pid).length < n) {
      if (Date.now() > deadline || instance.proc.exit) throw new Error(`scale: ${id} did not reach ${n} workers`);
      await processes.sleep(10);
    }
    const forkedMs = sinceStart();
    let readyLineMs;
    if (READY_LINE[id]) {
      await instance.proc.waitFor(READY_LINE[id], 120_000);
      readyLineMs = sinceStart();
    }
    await waitUntilAnswers(`${nginx.url('plain', name)}?pid`, { timeoutMs: 60_000 });
    const answeredMs = sinceStart();

    await processes.sleep(SETTLE_MS);
    const root = instance.proc.pid;
    const workers = procfs.childPids(root);
    const poolNs = () => [root, ...workers].reduce((sum, pid) => sum + (procfs.runtimeNs(pid) ?? 0), 0);
    const cpu0 = procfs.runtimeNs(root);
    const tree0 = poolNs();
    const t1 = process.hrtime.bigint();
    await processes.sleep(options.idleSeconds * 1000);
    const seconds = Number(process.hrtime.bigint() - t1) / 1e9;
    const cpu1 = procfs.runtimeNs(root);
    const tree1 = poolNs();
    const rss = workers.map(procfs.rssKb).filter((x) => x !== undefined);
    const pss = workers.map(procfs.pssKb).filter((x) => x !== undefined);
    results[id] = {
      workers: workers.length,
      readyLineMs,
      forkedMs,
      answeredMs,
      managerRssMiB: procfs.rssKb(root) / 1024,
      managerPssMiB: (procfs.pssKb(root) ?? NaN) / 1024,
      managerIdleCpuPct: (100 * (cpu1 - cpu0)) / (seconds * 1e9),
      poolIdleCpuPct: (100 * (tree1 - tree0)) / (seconds * 1e9),
      idleSeconds: seconds,
      workerRssMiB: mean(rss) / 1024,
      workerPssMiB: mean(pss) / 1024,
    };
    await ctx.stop(instance, { graceMs: 15_000 });
    const r = results[id];
    log(
      `${id.padEnd(5)} ${n} workers: forked after ${forkedMs.toFixed(0)} ms${readyLineMs ? `, all accepting after ${readyLineMs.toFixed(0)} ms` : ''}; ` +
        `manager RSS ${r.managerRssMiB.toFixed(1)} MiB, idle CPU ${r.managerIdleCpuPct.toFixed(3)}% (pool ${r.poolIdleCpuPct.toFixed(3)}%); worker RSS ${r.workerRssMiB.toFixed(1)} MiB, PSS ${r.workerPssMiB.toFixed(1)} MiB`,
    );
  }
  if (ids.includes('bare')) {
    const instance = await ctx.launch('bare', { name: 'scale-bare' });
    await processes.sleep(SETTLE_MS);
    results.bare = { workers: 1, workerRssMiB: procfs.rssKb(instance.proc.pid) / 1024, workerPssMiB: (procfs.pssKb(instance.proc.pid) ?? NaN) / 1024 };
    await ctx.stop(instance);
    log(`bare  one idle node-fastcgi process: RSS ${results.bare.workerRssMiB.toFixed(1)} MiB`);
  }
  return { workers: n, results };
}

function mean(xs) {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

module.exports = { scalePhase };
