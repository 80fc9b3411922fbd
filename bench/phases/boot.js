'use strict';
// Boot: how long a worker takes from fork to answering, for this build, an earlier one (--boot-ref,
// by default the commit before the boot-time cuts) and Perl's FCGI::ProcManager, side by side; and
// the RSS and PSS of an idle worker of each.
//
// Each backend runs one worker behind nginx (a connection per request). A round kills that worker
// with kill -9 and times until an answer comes from a new pid: fork (the manager's reaction) plus
// the replacement's boot. This build also reports fork -> accepting as its own manager measured it
// (the status page's `boot duration`). The backends take turns, so noise hits them alike.

const http = require('node:http');
const path = require('node:path');
const procfs = require('../lib/procfs');
const processes = require('../lib/processes');
const { percentile, summarize } = require('../lib/stats');
const { killAndTimeReplacement, UPTIME_BEFORE_KILL_MS } = require('./recovery');
const { buildRef } = require('./baseline');

const PREFIX = 'boot';

function bootVariants(ids, options) {
  const variants = [];
  if (ids.includes('pm')) {
    variants.push({ key: `ref-${options.bootRef}`, id: 'pm', earlier: true });
    variants.push({ key: 'this-build', id: 'pm', status: true });
  }
  if (ids.includes('perl')) variants.push({ key: 'perl', id: 'perl' });
  return variants;
}

function bootInstances(ids, options) {
  return bootVariants(ids, options).map((v) => ({ id: v.id, name: `${PREFIX}-${v.key}` }));
}

/** p50 and p95 of the numbers in `values`, with their count. */
function quantiles(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return { p50: percentile(v, 50), p95: percentile(v, 95), min: v[0], max: v[v.length - 1], n: v.length };
}

/** The status page's JSON (with every worker) from status_listen's unix socket, or undefined. */
function readStatus(socketPath) {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/status?json&full', timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

async function bootPhase(ctx, ids, log) {
  const { options } = ctx;
  const variants = bootVariants(ids, options);
  if (variants.length === 0) return { skipped: 'neither backend 3 nor 4 is run' };
  const earlier = variants.find((v) => v.earlier);
  let commit;
  if (earlier) {
    const dir = path.join(ctx.dir, `library-boot-${options.bootRef}`);
    try {
      commit = buildRef(options.bootRef, dir);
      earlier.env = { BENCH_LIBRARY: dir };
      log(`boot: ${options.bootRef} (${commit}) built in ${dir}`);
    } catch (err) {
      const why = String(err.stderr || err.message).trim().split('\n')[0];
      log(`boot: cannot build ${options.bootRef}: ${why}; measuring this build alone`);
      variants.splice(variants.indexOf(earlier), 1);
    }
  }
  const instances = {};
  for (const v of variants) {
    if (v.status) v.statusSocket = path.join(ctx.dir, `${PREFIX}-status.sock`);
    const env = { ...(v.env ?? {}), ...(v.status ? { BENCH_STATUS_LISTEN: v.statusSocket } : {}) };
    instances[v.key] = await ctx.launch(v.id, { name: `${PREFIX}-${v.key}`, workers: 1, env });
  }
  const runs = [];
  for (let round = 1; round <= options.bootRepeats; round++) {
    for (const v of round % 2 ? variants : [...variants].reverse()) {
      const name = `${PREFIX}-${v.key}`;
      await processes.sleep(UPTIME_BEFORE_KILL_MS);
      const r = await killAndTimeReplacement(ctx, instances[v.key], name);
      let acceptingMs;
      if (v.status && r.replacement) acceptingMs = (await readStatus(v.statusSocket))?.processes.find((p) => p.pid === r.replacement)?.['boot duration'];
      runs.push({ round, variant: v.key, ...r, acceptingMs });
      log(`boot round ${round} ${v.key.padEnd(14)} fork -> answering ${r.recoveredMs?.toFixed(1) ?? '-'} ms${acceptingMs ? ` (fork -> accepting ${acceptingMs} ms)` : ''}`);
    }
  }
  // An idle worker's memory, after its last boot.
  await processes.sleep(1_000);
  const memory = {};
  for (const v of variants) {
    const [worker] = procfs.childPids(instances[v.key].proc.pid);
    memory[v.key] = worker ? { rssMiB: procfs.rssKb(worker) / 1024, pssMiB: (procfs.pssKb(worker) ?? NaN) / 1024 } : undefined;
  }
  for (const v of variants) await ctx.stop(instances[v.key]);
  const summary = {};
  for (const v of variants) {
    const rs = runs.filter((r) => r.variant === v.key);
    summary[v.key] = {
      answeringMs: quantiles(rs.map((r) => r.recoveredMs)),
      acceptingMs: quantiles(rs.map((r) => r.acceptingMs)),
      forkedMs: summarize(rs.map((r) => r.forkedMs)),
      failedProbes: rs.reduce((n, r) => n + r.failures, 0),
      memory: memory[v.key],
    };
  }
  return { ref: options.bootRef, commit, variants: variants.map((v) => v.key), runs, summary };
}

module.exports = { bootPhase, bootInstances };
