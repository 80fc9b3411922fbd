'use strict';
// Worker memory against throughput, side by side: ProcManager (3) pools that differ only in their
// workers' young generation (V8's --max-semi-space-size, through node_args), each driven through nginx
// with kept connections, in turn, round after round (the order alternates), and each worker's RSS
// read after its run. `v8` is V8's own default for this Node line; `0` turns off the pool's default
// (max_semi_space), so the curve is measured whatever the pool's default is. BENCH_MEMORY_SIZES picks
// the sizes (default v8,1,2,4,8,16). Run it with each Node line: the workers run the Node that runs it.

const { measureLoad, memoryOf } = require('../lib/measure');
const { warmUp } = require('../lib/wrk');
const { summarize } = require('../lib/stats');

/** MiB per semi-space; 'v8' leaves it to V8. */
const SIZES = (process.env.BENCH_MEMORY_SIZES ?? 'v8,1,2,4,8,16').split(',').map((s) => (s === 'v8' ? s : Number(s)));
const MODE = 'keep';

const nameOf = (size) => `memory-${size}`;
const envOf = (size) => (size === 'v8' ? { BENCH_SEMI_SPACE: '0' } : { BENCH_SEMI_SPACE: String(size) });

function memoryInstances(ids) {
  return ids.includes('pm') ? SIZES.map((size) => ({ id: 'pm', name: nameOf(size) })) : [];
}

async function memoryPhase(ctx, ids, log) {
  if (!ids.includes('pm')) return { skipped: 'backend 3 not run' };
  const { options, nginx } = ctx;
  const instances = {};
  for (const size of SIZES) instances[size] = await ctx.launch('pm', { name: nameOf(size), mode: MODE, env: envOf(size) });
  await warmUp(SIZES.map((size) => nginx.url(MODE, nameOf(size))), options);
  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const size of round % 2 ? SIZES : [...SIZES].reverse()) {
      const root = instances[size].proc.pid;
      const r = await measureLoad(ctx, { url: nginx.url(MODE, nameOf(size)), root, seconds: options.duration });
      const { workerRssMiB } = memoryOf(root);
      const usPerReq = r.cpu.backendUsPerReq;
      runs.push({ round, size, rps: r.rps, usPerReq, failed: r.failed, p99Ms: r.latencyMs?.p99, workerRssMiB });
      log(`round ${round} semi-space ${String(size).padEnd(3)} ${r.rps.toFixed(0).padStart(6)} req/s  ${usPerReq?.toFixed(1)} µs/req  worker RSS ${workerRssMiB?.toFixed(1)} MiB  failed ${r.failed}`);
    }
  }
  for (const instance of Object.values(instances)) await ctx.stop(instance);
  const summary = {};
  for (const size of SIZES) {
    const mine = runs.filter((r) => r.size === size);
    const base = (r) => runs.find((x) => x.round === r.round && x.size === 'v8');
    summary[size] = {
      rps: summarize(mine.map((r) => r.rps)),
      ratio: summarize(mine.map((r) => r.rps / base(r).rps)),
      usPerReq: summarize(mine.map((r) => r.usPerReq)),
      cpuRatio: summarize(mine.map((r) => r.usPerReq / base(r).usPerReq)),
      p99Ms: summarize(mine.map((r) => r.p99Ms)),
      rssMiB: summarize(mine.map((r) => r.workerRssMiB)),
      failed: mine.reduce((n, r) => n + r.failed, 0),
    };
  }
  return { node: process.version, sizes: SIZES, summary, runs };
}

module.exports = { memoryPhase, memoryInstances };
