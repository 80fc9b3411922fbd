'use strict';
// Logging cost: ProcManager (3) with access_log on against the same pool without it, in both nginx
// modes, side by side: the two instances of a mode run back to back in each round, in turn first.
// Per round: req/s with / req/s without, and CPU µs per request of each. The access log's line count
// is checked against the requests answered, so a log that silently drops lines cannot look cheap.

const fs = require('node:fs');
const path = require('node:path');
const { measureLoad } = require('../lib/measure');
const { runWrk } = require('../lib/wrk');
const { MODES } = require('../lib/nginx');
const { summarize } = require('../lib/stats');

const VARIANTS = ['off', 'access-log'];

function loggingInstanceName(variant, mode) {
  return `log-${variant}-${mode}`;
}

function loggingInstances(ids) {
  if (!ids.includes('pm')) return [];
  return MODES.flatMap((mode) => VARIANTS.map((variant) => ({ id: 'pm', name: loggingInstanceName(variant, mode) })));
}

function countLines(file) {
  if (!fs.existsSync(file)) return 0;
  let n = 0;
  const buf = fs.readFileSync(file);
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10) n++;
  return n;
}

async function loggingPhase(ctx, ids, log) {
  if (!ids.includes('pm')) return { skipped: 'backend 3 not run' };
  const { options, nginx } = ctx;
  const instances = {};
  const accessLogs = {};
  for (const mode of MODES) {
    for (const variant of VARIANTS) {
      const name = loggingInstanceName(variant, mode);
      const env = {};
      if (variant === 'access-log') {
        accessLogs[mode] = path.join(ctx.dir, `access-${mode}.log`);
        env.BENCH_ACCESS_LOG = accessLogs[mode];
      }
      instances[name] = await ctx.launch('pm', { name, mode, env });
    }
  }
  const url = (name, mode) => nginx.url(mode, name);
  if (options.warmup > 0) {
    for (const mode of MODES) for (const variant of VARIANTS) await runWrk(url(loggingInstanceName(variant, mode), mode), { seconds: Math.ceil(options.warmup), connections: options.connections, threads: options.threads });
  }

  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const mode of MODES) {
      const order = round % 2 ? VARIANTS : [...VARIANTS].reverse();
      for (const variant of order) {
        const name = loggingInstanceName(variant, mode);
        const linesBefore = variant === 'access-log' ? countLines(accessLogs[mode]) : 0;
        const r = await measureLoad(ctx, { url: url(name, mode), root: instances[name].proc.pid, seconds: options.duration });
        // Lines are written once per turn of the event loop: give the last ones a moment.
        await new Promise((resolve) => setTimeout(resolve, 200));
        const lines = variant === 'access-log' ? countLines(accessLogs[mode]) - linesBefore : undefined;
        runs.push({ round, mode, variant, rps: r.rps, requests: r.requests, failed: r.failed, usPerReq: r.cpu.backendUsPerReq, othersPct: r.cpu.othersPct, accessLines: lines });
        log(
          `round ${round} ${mode.padEnd(5)} ${variant.padEnd(10)} ${r.rps.toFixed(0).padStart(6)} req/s  ${r.cpu.backendUsPerReq?.toFixed(0) ?? '-'} µs/req  failed ${r.failed}` +
            (lines === undefined ? '' : `  access lines ${lines} for ${r.requests} requests`),
        );
      }
    }
  }
  for (const instance of Object.values(instances)) await ctx.stop(instance);

  const summary = {};
  for (const mode of MODES) {
    const of = (variant) => runs.filter((r) => r.mode === mode && r.variant === variant);
    const ratios = [];
    for (let round = 1; round <= options.rounds; round++) {
      const off = of('off').find((r) => r.round === round);
      const on = of('access-log').find((r) => r.round === round);
      if (off && on) ratios.push(on.rps / off.rps);
    }
    summary[mode] = {
      offRps: summarize(of('off').map((r) => r.rps)),
      onRps: summarize(of('access-log').map((r) => r.rps)),
      ratio: summarize(ratios),
      offUsPerReq: summarize(of('off').map((r) => r.usPerReq)),
      onUsPerReq: summarize(of('access-log').map((r) => r.usPerReq)),
      linesPerRequest: summarize(of('access-log').map((r) => r.accessLines / Math.max(1, r.requests))),
    };
  }
  return { runs, summary };
}

module.exports = { loggingPhase, loggingInstances };
