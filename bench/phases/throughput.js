'use strict';
// Steady throughput: every backend behind nginx, with and without fastcgi_keep_conn, plus
// nginx's own `return 200`. Targets are interleaved (A B C A B C ...) over the rounds so that
// a burst of noise on the shared machine hits all of them alike.

const { measureLoad } = require('../lib/measure');
const { warmUp } = require('../lib/wrk');
const { MODES } = require('../lib/nginx');
const { summarize } = require('../lib/stats');

/** Ratios reported (numerator / denominator backend ids), computed per round, side by side. */
const RATIOS = [
  { name: '3a/2 manager overhead, same FastCGI code (vs cluster round-robin)', num: 'pm-asis', den: 'cluster-rr' },
  { name: '3a/2n manager overhead, same FastCGI code (vs cluster SCHED_NONE)', num: 'pm-asis', den: 'cluster-none' },
  { name: '3/2 ProcManager as shipped vs cluster round-robin', num: 'pm', den: 'cluster-rr' },
  { name: '3/2n ProcManager as shipped vs cluster SCHED_NONE', num: 'pm', den: 'cluster-none' },
  { name: "3/3a attach()'s FastCGI path vs node-fastcgi as-is", num: 'pm', den: 'pm-asis' },
  { name: "3/3p attach()'s FastCGI path vs node-fastcgi patched in place", num: 'pm', den: 'pm-patched' },
  { name: '3p/4 node-fastcgi patched in place vs Perl FCGI::ProcManager', num: 'pm-patched', den: 'perl' },
  { name: '3/4 vs Perl FCGI::ProcManager', num: 'pm', den: 'perl' },
  { name: '3/5 vs PHP-FPM', num: 'pm', den: 'php' },
  { name: '3/1 pool of N vs one bare process', num: 'pm', den: 'bare' },
];

async function throughputPhase(ctx, backendIds, log) {
  const { options, nginx } = ctx;
  // One instance per backend and mode: with fastcgi_keep_conn, nginx's idle pooled connections
  // hold Perl's and PHP-FPM's one-connection-at-a-time workers, which would starve a plain
  // location sharing those workers.
  const instances = [];
  const targets = [{ key: 'nginx', backend: 'nginx', mode: '-', url: `${nginx.base}/nginx` }];
  for (const mode of MODES) {
    for (const id of backendIds) {
      const name = throughputInstanceName(id, mode);
      const instance = await ctx.launch(id, { name, mode });
      instances.push(instance);
      targets.push({ key: `${id}/${mode}`, backend: id, mode, url: nginx.url(mode, name), root: instance.proc.pid });
    }
  }

  await warmUp(targets.map((t) => t.url), options, { log });

  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const t of targets) {
      const r = await measureLoad(ctx, { url: t.url, root: t.root, seconds: options.duration });
      runs.push({ round, key: t.key, backend: t.backend, mode: t.mode, ...r });
      log(
        `round ${round} ${t.key.padEnd(18)} ${r.rps.toFixed(0).padStart(6)} req/s  p99 ${r.latencyMs.p99.toFixed(2)} ms  ` +
          `${r.cpu.backendUsPerReq?.toFixed(0) ?? '-'} µs/req  failed ${r.failed}  nginx errors ${r.nginxErrors.failures}  others ${r.cpu.othersPct?.toFixed(0)}%`,
      );
    }
  }

  for (const instance of instances) await ctx.stop(instance);
  return { targets: targets.map(({ key, backend, mode }) => ({ key, backend, mode })), runs, summary: summarizeRuns(targets, runs), ratios: ratios(runs, backendIds, options.rounds) };
}

function throughputInstanceName(id, mode) {
  return mode === 'plain' ? id : `${id}-${mode}`;
}

function summarizeRuns(targets, runs) {
  const out = {};
  for (const t of targets) {
    const rs = runs.filter((r) => r.key === t.key);
    out[t.key] = {
      backend: t.backend,
      mode: t.mode,
      rps: summarize(rs.map((r) => r.rps)),
      p50Ms: summarize(rs.map((r) => r.latencyMs.p50)),
      p99Ms: summarize(rs.map((r) => r.latencyMs.p99)),
      maxMs: summarize(rs.map((r) => r.latencyMs.max)),
      backendUsPerReq: summarize(rs.map((r) => r.cpu.backendUsPerReq)),
      nginxUsPerReq: summarize(rs.map((r) => r.cpu.nginxUsPerReq)),
      othersPct: summarize(rs.map((r) => r.cpu.othersPct)),
      failed: rs.reduce((n, r) => n + r.non2xx + r.socketErrors, 0),
      nginxErrorLines: rs.reduce((n, r) => n + r.nginxErrors.failures, 0),
      nginxErrorSamples: [...new Set(rs.flatMap((r) => r.nginxErrors.samples.map(stripIds)))].slice(0, 2),
      topRssMiB: summarize(rs.map((r) => r.memory?.topRssMiB)),
      workerRssMiB: summarize(rs.map((r) => r.memory?.workerRssMiB)),
    };
  }
  return out;
}

/** An nginx error line without the per-connection numbers, so that repeats collapse. */
function stripIds(line) {
  return line.replace(/^\d+#\d+: \*\d+ /, '').replace(/, client: .*$/, '');
}

function ratios(runs, backendIds, rounds) {
  const out = [];
  for (const mode of MODES) {
    for (const ratio of RATIOS) {
      if (!backendIds.includes(ratio.num) || !backendIds.includes(ratio.den)) continue;
      const perRound = [];
      const cpuPerRound = [];
      for (let round = 1; round <= rounds; round++) {
        const a = runs.find((r) => r.round === round && r.key === `${ratio.num}/${mode}`);
        const b = runs.find((r) => r.round === round && r.key === `${ratio.den}/${mode}`);
        if (a && b) {
          perRound.push(a.rps / b.rps);
          cpuPerRound.push(a.cpu.backendUsPerReq / b.cpu.backendUsPerReq);
        }
      }
      out.push({ name: ratio.name, mode, num: ratio.num, den: ratio.den, rps: summarize(perRound), cpuPerReq: summarize(cpuPerRound) });
    }
  }
  return out;
}

module.exports = { throughputPhase, throughputInstanceName };
