'use strict';
// How evenly a pool's workers share the load: ProcManager (3), Perl's FCGI::ProcManager (4) and
// PHP-FPM (5), each with BENCH_SPREAD_WORKERS (4) workers, on a unix socket and on TCP (127.0.0.1),
// behind nginx with a new connection per request (plain) and with kept connections (keep). Each run
// asks `?pid`, which the apps answer with an X-Pid header that nginx's access log records; the spread
// is the busiest worker's requests over the least busy one's (a worker that served none makes it
// infinite). Targets are interleaved within each round, the order reversed every other round; req/s,
// p99 and the CPU per request are reported beside the spread.
//
//   BENCH_SPREAD_SLEEP=0.01   each request waits this long without using the CPU (an app waiting on
//                             a database) instead of answering at once

const { measureLoad } = require('../lib/measure');
const { warmUp } = require('../lib/wrk');
const { fileSize, readSince } = require('../lib/nginx');
const { summarize } = require('../lib/stats');

const TRANSPORTS = ['unix', 'tcp'];
const MODES = ['plain', 'keep'];
const WORKERS = Number(process.env.BENCH_SPREAD_WORKERS || 4);
const SLEEP = process.env.BENCH_SPREAD_SLEEP;

/** The pools compared: { key, id }. */
function variants(ids) {
  return ['pm', 'perl', 'php'].filter((id) => ids.includes(id)).map((id) => ({ key: id, id }));
}

// One pool per connection mode as well: a Perl or PHP-FPM worker stays on a kept connection until
// nginx closes it, so after a kept run its pool would not accept the next plain run's connections.
const nameOf = (variant, transport, mode) => `spread-${variant.key}-${transport}-${mode}`;

function spreadInstances(ids) {
  // A one-connection-at-a-time worker (Perl, PHP-FPM) gets one idle kept connection each (context.js).
  return variants(ids).flatMap((v) =>
    TRANSPORTS.flatMap((transport) =>
      MODES.map((mode) => ({ id: v.id, name: nameOf(v, transport, mode), tcp: transport === 'tcp', keepalive: v.id === 'pm' ? undefined : WORKERS })),
    ),
  );
}

/**
 * Requests per worker pid in nginx's access-log text: the fields after `$msec $status $request_time`
 * are the X-Pid header, one value per upstream tried (`-, 1234` when nginx retried); the last one answered.
 */
function requestsByWorker(text) {
  const counts = new Map();
  for (const line of text.split('\n')) {
    const pid = line.trim().split(' ').slice(3).join(' ').split(', ').filter((v) => v && v !== '-').at(-1);
    if (pid) counts.set(pid, (counts.get(pid) ?? 0) + 1);
  }
  return counts;
}

/** Busiest over least busy, counting a worker that served nothing as 0 (then Infinity). */
function spreadOf(counts, workers) {
  const values = [...counts.values()];
  while (values.length < workers) values.push(0);
  const min = Math.min(...values);
  return min === 0 ? Infinity : Math.max(...values) / min;
}

async function spreadPhase(ctx, ids, log) {
  const all = variants(ids);
  if (!all.some((v) => v.id === 'pm')) return { skipped: 'backend 3 not run' };
  const { options, nginx } = ctx;
  const query = SLEEP ? `?pid&sleep=${SLEEP}` : '?pid';
  const targets = [];
  const instances = [];
  for (const v of all) {
    for (const transport of TRANSPORTS) {
      for (const mode of MODES) {
        const name = nameOf(v, transport, mode);
        instances.push(await ctx.launch(v.id, { name, mode, workers: WORKERS }));
        targets.push({ key: `${v.key}/${transport}/${mode}`, variant: v.key, transport, mode, name, root: instances.at(-1).proc.pid });
      }
    }
  }
  await warmUp(targets.map((t) => nginx.url(t.mode, t.name) + query), options, { log: (msg) => log(`spread: ${msg}`) });
  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const t of round % 2 ? targets : [...targets].reverse()) {
      const logFile = nginx.accessLog(t.mode, t.name);
      const offset = fileSize(logFile);
      const r = await measureLoad(ctx, { url: nginx.url(t.mode, t.name, true) + query, root: t.root, seconds: options.duration });
      const counts = requestsByWorker(readSince(logFile, offset));
      const spread = spreadOf(counts, WORKERS);
      const perWorker = [...counts.values()].sort((a, b) => a - b);
      runs.push({ round, key: t.key, variant: t.variant, transport: t.transport, mode: t.mode, rps: r.rps, p99Ms: r.latencyMs?.p99, usPerReq: r.cpu.backendUsPerReq, failed: r.failed, spread, perWorker });
      log(
        `spread: round ${round} ${t.key.padEnd(24)} ${r.rps.toFixed(0).padStart(6)} req/s  p99 ${r.latencyMs?.p99?.toFixed(2)} ms  ` +
          `spread ${Number.isFinite(spread) ? spread.toFixed(2) : 'inf'}  per worker ${perWorker.join(' / ')}  failed ${r.failed}`,
      );
    }
  }
  for (const instance of instances) await ctx.stop(instance);
  const summary = {};
  for (const t of targets) {
    const mine = runs.filter((r) => r.key === t.key);
    summary[t.key] = {
      variant: t.variant,
      transport: t.transport,
      mode: t.mode,
      spread: summarize(mine.map((r) => r.spread)),
      rps: summarize(mine.map((r) => r.rps)),
      p99Ms: summarize(mine.map((r) => r.p99Ms)),
      usPerReq: summarize(mine.map((r) => r.usPerReq)),
      failed: mine.reduce((n, r) => n + r.failed, 0),
      /** Runs in which a worker served nothing (their spread is infinite, left out of `spread`). */
      idleWorkerRuns: mine.filter((r) => !Number.isFinite(r.spread)).length,
    };
  }
  return { workers: WORKERS, sleep: SLEEP ? Number(SLEEP) : 0, variants: all.map((v) => v.key), summary, runs };
}

module.exports = { spreadPhase, spreadInstances, requestsByWorker, spreadOf };
