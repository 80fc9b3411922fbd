'use strict';
// A/B runs of two ProcManager pools that differ in one thing (a parameter, the library build), in
// both nginx modes, side by side: in each round the two run back to back, in turn first, so noise
// on the shared machine hits both alike. Per round: req/s of B / req/s of A, and CPU µs per request
// of each (the backend's whole process tree).

const { measureLoad, memoryOf } = require('./measure');
const { runWrk } = require('./wrk');
const { MODES } = require('./nginx');
const { summarize } = require('./stats');

/** Instance names for variants [{ key }] under `prefix`: [{ id: 'pm', name }]. */
function abInstances(prefix, variants) {
  return MODES.flatMap((mode) => variants.map((v) => ({ id: 'pm', name: `${prefix}-${v.key}-${mode}` })));
}

/**
 * Runs variants [A, B] ({ key, env, afterRun(mode) -> extra fields }) of backend 3 in both modes.
 * Returns { runs, summary: { [mode]: { a, b, ratio, aUsPerReq, bUsPerReq, ...extra } } }.
 */
async function compareVariants(ctx, { prefix, variants, log }) {
  const { options, nginx } = ctx;
  const name = (v, mode) => `${prefix}-${v.key}-${mode}`;
  const instances = {};
  for (const mode of MODES) for (const v of variants) instances[name(v, mode)] = await ctx.launch('pm', { name: name(v, mode), mode, env: v.env?.(mode) ?? {} });
  if (options.warmup > 0) {
    for (const mode of MODES) for (const v of variants) await runWrk(nginx.url(mode, name(v, mode)), { seconds: Math.ceil(options.warmup), connections: options.connections, threads: options.threads });
  }
  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const mode of MODES) {
      for (const v of round % 2 ? variants : [...variants].reverse()) {
        const before = v.beforeRun?.(mode);
        const root = instances[name(v, mode)].proc.pid;
        const r = await measureLoad(ctx, { url: nginx.url(mode, name(v, mode)), root, seconds: options.duration });
        const { workerRssMiB } = memoryOf(root);
        const extra = (await v.afterRun?.(mode, before, r)) ?? {};
        runs.push({ round, mode, variant: v.key, rps: r.rps, requests: r.requests, failed: r.failed, usPerReq: r.cpu.backendUsPerReq, othersPct: r.cpu.othersPct, workerRssMiB, ...extra });
        const shown = Object.entries(extra).map(([k, x]) => `  ${k} ${x}`).join('');
        log(`round ${round} ${mode.padEnd(5)} ${v.key.padEnd(12)} ${r.rps.toFixed(0).padStart(6)} req/s  ${r.cpu.backendUsPerReq?.toFixed(0) ?? '-'} µs/req  failed ${r.failed}${shown}`);
      }
    }
  }
  for (const instance of Object.values(instances)) await ctx.stop(instance);

  const [a, b] = variants.map((v) => v.key);
  const summary = {};
  for (const mode of MODES) {
    const of = (key) => runs.filter((r) => r.mode === mode && r.variant === key);
    const ratios = [];
    for (let round = 1; round <= options.rounds; round++) {
      const ra = of(a).find((r) => r.round === round);
      const rb = of(b).find((r) => r.round === round);
      if (ra && rb) ratios.push(rb.rps / ra.rps);
    }
    summary[mode] = {
      aRps: summarize(of(a).map((r) => r.rps)),
      bRps: summarize(of(b).map((r) => r.rps)),
      ratio: summarize(ratios),
      aUsPerReq: summarize(of(a).map((r) => r.usPerReq)),
      bUsPerReq: summarize(of(b).map((r) => r.usPerReq)),
      aRssMiB: summarize(of(a).map((r) => r.workerRssMiB)),
      bRssMiB: summarize(of(b).map((r) => r.workerRssMiB)),
      failed: runs.filter((r) => r.mode === mode).reduce((n, r) => n + r.failed, 0),
    };
  }
  return { runs, summary };
}

module.exports = { compareVariants, abInstances };
