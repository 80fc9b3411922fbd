'use strict';
// Reload storm: what a burst of HUPs costs in capacity. ProcManager (3) and Perl's
// FCGI::ProcManager (4), one instance each, plain mode, behind nginx's logged location. Per round
// and backend: a calm run (no signal) and a storm run (--storm-hups HUPs spread evenly over
// --storm-seconds, starting --storm-lead s into the run), back to back. Throughput, latency and the
// timeline all come from nginx's access log ($msec = when a request ended, $request_time = how
// long it took): req/s over the storm window of the storm run divided by req/s over the same
// window of the calm run, per round; p99 and max of the requests in flight during the window.
//
// To tell the cost of booting the new workers from the cost of serving on cold ones, ProcManager also
// runs a storm whose HUPs go to a second, idle pool of the same app (key pm-boots): the pool under
// load keeps its warm workers, while the same number of Node processes boot beside it.
//
// The same rounds measure ProcManager with `max_requests` (worker recycled after that many
// requests) against without, when the build knows that parameter (dist/params KNOWN_PARAMS).
//
// The last round's storm runs are drawn as an SVG timeline (answered requests per 100 ms, HUPs as
// vertical lines): bench/results/bench-<time>-reload-storm.svg, copied to docs/reload-storm.svg by
// full runs (see run.js).

const fs = require('node:fs');
const path = require('node:path');
const procfs = require('../lib/procfs');
const processes = require('../lib/processes');
const { measureLoad } = require('../lib/measure');
const { warmUp } = require('../lib/wrk');
const { fileSize, readSince } = require('../lib/nginx');
const { waitUntilAnswers } = require('../lib/http');
const { summarize, percentile } = require('../lib/stats');
const { BACKENDS } = require('../lib/backends');
const { ROOT } = require('../lib/peers');
const { timelineSvg } = require('../lib/svg');

const STORM_BACKENDS = ['pm', 'perl'];
const BIN_MS = 100;
/** Instance name of the ProcManager pool that runs with max_requests. */
const MAXREQ = 'pm-maxreq';
/** The second, idle ProcManager pool that takes the HUPs of the pm-boots runs. */
const SHADOW = 'pm-shadow';
/** Runs under load on pm, HUPs to SHADOW; compared with pm's calm runs. */
const BOOTS = 'pm-boots';

function stormInstanceName(key) {
  return `storm-${key}`;
}

/** Instances the phase needs behind nginx: [{ id, name }]. */
function stormInstances(ids) {
  const out = ids.filter((id) => STORM_BACKENDS.includes(id)).map((id) => ({ id, name: stormInstanceName(id) }));
  if (ids.includes('pm')) out.push({ id: 'pm', name: stormInstanceName(MAXREQ) }, { id: 'pm', name: stormInstanceName(SHADOW) });
  return out;
}

/** Whether the built library (dist/) knows `max_requests`; { supported, reason }. */
function maxRequestsSupport() {
  try {
    const file = path.join(ROOT, 'dist', 'params', 'index.js');
    delete require.cache[require.resolve(file)];
    const known = require(file).KNOWN_PARAMS ?? [];
    return known.includes('max_requests')
      ? { supported: true }
      : { supported: false, reason: 'not supported by this build (dist/params KNOWN_PARAMS has no max_requests)' };
  } catch (err) {
    return { supported: false, reason: `cannot read dist/params: ${err.message}` };
  }
}

async function reloadStormPhase(ctx, backendIds, log) {
  const { options, nginx } = ctx;
  const ids = backendIds.filter((id) => STORM_BACKENDS.includes(id));
  const { stormHups: hups, stormSeconds, stormLead: lead } = options;
  // wrk takes whole seconds: the tail after the window is what rounding up leaves (>= the lead).
  const runSeconds = Math.ceil(lead + stormSeconds + lead);
  const hupOffsetsMs = Array.from({ length: hups }, (_, i) => Math.round((lead + (i * stormSeconds) / hups) * 1000));
  const maxReq = ids.includes('pm') ? maxRequestsSupport() : { supported: false, reason: 'backend 3 not run' };
  if (ids.includes('pm')) {
    log(maxReq.supported ? `max_requests=${options.maxRequests}: supported by this build` : `max_requests: ${maxReq.reason}`);
  }

  // Workers forked on HUP load dist/ afresh: note whether someone rebuilt it meanwhile.
  const distBefore = distStamp();
  const instances = {};
  for (const id of ids) instances[id] = await ctx.launch(id, { name: stormInstanceName(id) });
  if (ids.includes('pm')) instances[SHADOW] = await ctx.launch('pm', { name: stormInstanceName(SHADOW) });
  if (maxReq.supported) {
    instances[MAXREQ] = await ctx.launch('pm', {
      name: stormInstanceName(MAXREQ),
      env: { BENCH_MAX_REQUESTS: String(options.maxRequests), BENCH_COUNT_REQUESTS: '1' },
    });
  }
  const keys = Object.keys(instances);
  const url = (key) => nginx.url('plain', stormInstanceName(key), true);

  await warmUp(keys.filter((k) => k !== SHADOW).map(url), options);

  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    // Calm and storm of one backend back to back; the backends interleaved, in turn first.
    const order = round % 2 ? ids : [...ids].reverse();
    for (const id of order) {
      for (const storm of [false, true]) {
        const run = await oneRun(ctx, { key: id, id, instance: instances[id], storm, runSeconds, lead, stormSeconds, hupOffsetsMs });
        runs.push({ round, ...run });
        logRun(log, round, run);
      }
      if (id === 'pm') {
        const run = await oneRun(ctx, { key: BOOTS, id, instance: instances.pm, hupTarget: instances[SHADOW], storm: true, runSeconds, lead, stormSeconds, hupOffsetsMs });
        runs.push({ round, ...run });
        logRun(log, round, run);
      }
    }
    if (maxReq.supported) {
      const run = await oneRun(ctx, { key: MAXREQ, id: 'pm', instance: instances[MAXREQ], storm: false, runSeconds, lead, stormSeconds, hupOffsetsMs });
      runs.push({ round, ...run });
      logRun(log, round, run);
    }
  }
  // Worker exits logged after this are the final stop's, not recycling.
  const stoppingNs = process.hrtime.bigint();
  for (const key of keys) await ctx.stop(instances[key]);
  const distAfter = distStamp();
  if (distAfter !== distBefore) log('warning: dist/ was rebuilt during the phase: workers forked after that ran the new build');

  const result = {
    hups,
    stormSeconds,
    leadSeconds: lead,
    runSeconds,
    binMs: BIN_MS,
    connections: options.connections,
    workers: options.workers,
    rounds: options.rounds,
    distRebuiltDuringPhase: distAfter !== distBefore,
    runs: runs.map(({ bins, ...r }) => r),
    summary: summarizeStorm(runs, ids.includes('pm') ? [...ids, BOOTS] : ids, options.rounds),
    maxRequests: maxReq.supported
      ? { supported: true, limit: options.maxRequests, ...summarizeMaxRequests(runs, options.rounds, instances[MAXREQ], options.maxRequests, stoppingNs) }
      : { supported: false, reason: maxReq.reason },
  };
  // The picture: the last round's storm runs.
  const last = ids.map((id) => runs.find((r) => r.round === options.rounds && r.key === id && r.storm)).filter(Boolean);
  result.timeline = last.map((r) => ({
    backend: r.id,
    label: `${BACKENDS[r.id].tag} ${BACKENDS[r.id].label}`,
    bins: r.bins,
    hupsMs: r.hupsMs,
    calmPerBin: runs.find((c) => c.round === r.round && c.key === r.key && !c.storm)?.window.rps * (BIN_MS / 1000),
    ratio: result.summary[r.id]?.ratioPerRound?.find((x) => x.round === r.round)?.ratio,
  }));
  result.timelineRound = options.rounds;
  return result;
}

/**
 * One wrk run against the logged location; with `storm`, the HUPs at `hupOffsetsMs` after its start,
 * to `hupTarget` (default: the instance under load).
 */
async function oneRun(ctx, { key, id, instance, hupTarget = instance, storm, runSeconds, lead, stormSeconds, hupOffsetsMs }) {
  const { nginx, options } = ctx;
  const url = nginx.url('plain', instance.name, true);
  const logFile = nginx.accessLog('plain', instance.name);
  const logOffset = fileSize(logFile);
  const workersBefore = procfs.childPids(instance.proc.pid);
  // Both managers log `server (pid N) started` for each fork (Perl's pm_notify, and ours).
  const linesBefore = hupTarget.proc.lines.length;
  const hupsMs = [];
  let startMs;
  const r = await measureLoad(ctx, {
    url,
    root: instance.proc.pid,
    seconds: runSeconds,
    during: async () => {
      startMs = Date.now();
      if (!storm) return;
      for (const offset of hupOffsetsMs) {
        const wait = startMs + offset - Date.now();
        if (wait > 0) await processes.sleep(wait);
        if (processes.signal(hupTarget.proc, BACKENDS[id].reloadSignal)) hupsMs.push(Date.now() - startMs);
      }
    },
  });
  // The pool must be whole again (no retiring worker left) before the next run.
  await waitForPool(nginx.url('plain', instance.name), instance, options.workers);
  if (hupTarget !== instance) await waitForPool(nginx.url('plain', hupTarget.name), hupTarget, options.workers);
  const workersAfter = procfs.childPids(instance.proc.pid);
  const boots = hupTarget.proc.lines.slice(linesBefore).filter((line) => /server \(pid \d+\) started/.test(line)).length;
  const entries = parseAccessLog(readSince(logFile, logOffset), startMs);
  const windowStart = storm && hupsMs.length ? hupsMs[0] : lead * 1000;
  const window = windowFigures(entries, windowStart, windowStart + stormSeconds * 1000);
  return {
    key,
    id,
    storm,
    hupsSent: hupsMs.length,
    hupsMs,
    requests: r.requests,
    rps: r.rps,
    non2xx: r.non2xx,
    socketErrors: r.socketErrors,
    nginxErrorLines: r.nginxErrors.failures,
    nginxStderrLines: r.nginxErrors.stderr,
    nginxErrorSamples: r.nginxErrors.samples,
    failed: r.non2xx + r.socketErrors + r.nginxErrors.failures,
    wrkLatencyMs: r.latencyMs,
    othersPct: r.cpu.othersPct,
    backendUsPerReq: r.cpu.backendUsPerReq,
    workersReplaced: workersBefore.filter((pid) => !workersAfter.includes(pid)).length,
    boots,
    window,
    bins: bins(entries, runSeconds * 1000),
  };
}

/** The newest mtime under dist/ (ms), to tell whether it was rebuilt. */
function distStamp() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  try {
    walk(path.join(ROOT, 'dist'));
  } catch {
    // dist/ changed under us; compare what was seen
  }
  return newest;
}

function logRun(log, round, run) {
  const w = run.window;
  log(
    `round ${round} ${run.key.padEnd(9)} ${run.storm ? `storm (${run.hupsSent} HUPs)` : 'calm'.padEnd(13)} ` +
      `${w.rps.toFixed(0).padStart(6)} req/s in window (wrk ${run.rps.toFixed(0)})  p99 ${fmtMs(w.p99Ms)} max ${fmtMs(w.maxMs)} ms  ` +
      `failed ${run.failed} (non-200 in log ${w.non200})  replaced ${run.workersReplaced}  boots ${run.boots}  others ${run.othersPct?.toFixed(0)}%`,
  );
}

const fmtMs = (x) => (x === undefined ? '-' : String(Math.round(x)));

/** Waits until the pool answers and has its N workers (retiring ones gone), up to 15 s. */
async function waitForPool(probeUrl, instance, workers) {
  await waitUntilAnswers(`${probeUrl}?pid`);
  const deadline = Date.now() + 15_000;
  while (procfs.childPids(instance.proc.pid).length !== workers && Date.now() < deadline) await processes.sleep(50);
}

/** Access-log lines "<msec> <status> <request_time> <X-Pid>" as { endMs, tookMs, status }, times relative to `startMs`. */
function parseAccessLog(text, startMs) {
  const out = [];
  for (const line of text.split('\n')) {
    const [msec, status, requestTime] = line.trim().split(' ');
    if (!requestTime) continue;
    out.push({ endMs: Number(msec) * 1000 - startMs, tookMs: Number(requestTime) * 1000, status });
  }
  return out;
}

/**
 * Over [fromMs, toMs] (relative to the run's start): req/s of the requests that ended in it, and
 * the latency of every request in flight at some moment of it.
 */
function windowFigures(entries, fromMs, toMs) {
  let ended = 0;
  let non200 = 0;
  const took = [];
  for (const e of entries) {
    if (e.endMs >= fromMs && e.endMs < toMs) ended++;
    if (e.endMs >= fromMs && e.endMs - e.tookMs <= toMs) {
      took.push(e.tookMs);
      if (e.status !== '200') non200++;
    }
  }
  took.sort((a, b) => a - b);
  return {
    fromMs,
    toMs,
    answered: ended,
    rps: ended / ((toMs - fromMs) / 1000),
    inFlight: took.length,
    non200,
    p50Ms: percentile(took, 50),
    p99Ms: percentile(took, 99),
    maxMs: took.length ? took[took.length - 1] : undefined,
  };
}

/** Answered requests per BIN_MS from the run's start. */
function bins(entries, lengthMs) {
  const n = Math.ceil(lengthMs / BIN_MS);
  const out = new Array(n).fill(0);
  for (const e of entries) {
    const i = Math.floor(e.endMs / BIN_MS);
    if (i >= 0 && i < n) out[i]++;
  }
  return out;
}

function summarizeStorm(runs, ids, rounds) {
  const out = {};
  for (const id of ids) {
    const calmKey = id === BOOTS ? 'pm' : id; // the boots-only storm is compared with pm's own calm runs
    const calm = runs.filter((r) => r.key === calmKey && !r.storm);
    const storm = runs.filter((r) => r.key === id && r.storm);
    const ratioPerRound = [];
    for (let round = 1; round <= rounds; round++) {
      const c = calm.find((r) => r.round === round);
      const s = storm.find((r) => r.round === round);
      if (c && s && c.window.rps > 0) ratioPerRound.push({ round, ratio: s.window.rps / c.window.rps });
    }
    out[id] = {
      calmRps: summarize(calm.map((r) => r.window.rps)),
      stormRps: summarize(storm.map((r) => r.window.rps)),
      ratio: summarize(ratioPerRound.map((x) => x.ratio)),
      ratioPerRound,
      stormP99Ms: summarize(storm.map((r) => r.window.p99Ms)),
      stormMaxMs: summarize(storm.map((r) => r.window.maxMs)),
      calmP99Ms: summarize(calm.map((r) => r.window.p99Ms)),
      calmMaxMs: summarize(calm.map((r) => r.window.maxMs)),
      stormFailed: storm.reduce((n, r) => n + r.failed, 0),
      stormNon200: storm.reduce((n, r) => n + r.window.non200, 0),
      stormRequests: storm.reduce((n, r) => n + r.requests, 0),
      stormNginxStderrLines: storm.reduce((n, r) => n + r.nginxStderrLines, 0),
      calmFailed: calm.reduce((n, r) => n + r.failed, 0),
      hupsSent: storm.map((r) => r.hupsSent),
      // Workers forked per storm run: what the storm cost in boots (n_processes per reload it began).
      stormBoots: summarize(storm.map((r) => r.boots)),
      othersPct: summarize(runs.filter((r) => r.key === id).map((r) => r.othersPct)),
      // Samples of the failure lines only ("FastCGI sent in stderr" is the backend's own log output).
      errorSamples: [...new Set(storm.flatMap((r) => r.nginxErrorSamples.filter((l) => !/FastCGI sent in stderr/.test(l))))].slice(0, 2),
    };
  }
  return out;
}

/**
 * req/s with max_requests against without (the calm runs of the same round), and, from the lines
 * the bench's pm.js workers print at exit (BENCH_COUNT_REQUESTS=1), how many requests recycled
 * workers served past the limit.
 */
function summarizeMaxRequests(runs, rounds, instance, limit, beforeNs) {
  const perRound = [];
  for (let round = 1; round <= rounds; round++) {
    const a = runs.find((r) => r.round === round && r.key === MAXREQ);
    const b = runs.find((r) => r.round === round && r.key === 'pm' && !r.storm);
    if (a && b && b.window.rps > 0) perRound.push(a.window.rps / b.window.rps);
  }
  const mine = runs.filter((r) => r.key === MAXREQ);
  const proc = instance?.proc;
  // Exits during the runs (the final stop's are left out): a recycled worker served >= limit.
  const served = (proc?.lines ?? [])
    .map((line, i) => (proc.lineTimes[i] < beforeNs ? /^bench-served pid=(\d+) requests=(\d+)/.exec(line) : null))
    .filter(Boolean)
    .map((m) => Number(m[2]));
  const recycled = served.filter((n) => n >= limit);
  const past = recycled.map((n) => n - limit).sort((a, b) => a - b);
  const replaced = mine.reduce((n, r) => n + r.workersReplaced, 0);
  return {
    rps: summarize(mine.map((r) => r.window.rps)),
    ratio: summarize(perRound),
    p99Ms: summarize(mine.map((r) => r.window.p99Ms)),
    maxMs: summarize(mine.map((r) => r.window.maxMs)),
    failed: mine.reduce((n, r) => n + r.failed, 0),
    non2xx: mine.reduce((n, r) => n + r.non2xx, 0),
    socketErrors: mine.reduce((n, r) => n + r.socketErrors, 0),
    nginxErrorLines: mine.reduce((n, r) => n + r.nginxErrorLines, 0),
    requests: mine.reduce((n, r) => n + r.requests, 0),
    errorSamples: [...new Set(mine.flatMap((r) => r.nginxErrorSamples.filter((l) => !/FastCGI sent in stderr/.test(l))))].slice(0, 2),
    workersReplacedInRuns: replaced,
    workerExitsDuringRuns: served.length,
    recycledWorkers: recycled.length,
    exitsBelowLimit: served.length - recycled.length,
    pastLimit: past.length
      ? { max: past[past.length - 1], median: percentile(past, 50), min: past[0], mean: past.reduce((a, b) => a + b, 0) / past.length }
      : undefined,
    pastLimitNote:
      served.length === 0 && replaced === 0
        ? 'no worker was recycled during the runs: this build accepts max_requests but did not act on it'
        : served.length === 0
          ? 'no worker reported its request count at exit: requests past the limit not available'
          : undefined,
  };
}

/** Writes the SVG of the last round next to the report, and (full runs only) to docs/reload-storm.svg. */
function writeReloadStormArtifacts(result, base, options) {
  if (!result.timeline?.length) return;
  const svg = timelineSvg({
    title: `Reload storm: ${result.hups} HUPs in ${result.stormSeconds} s under wrk -c${result.connections}, ${result.workers} workers, behind nginx` +
      `${options.quick ? ' (quick run)' : ''}`,
    subtitle: `answered requests per ${result.binMs} ms (nginx access log), round ${result.timelineRound} of ${result.rounds}; ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    series: result.timeline.map((t) => ({
      shortLabel: t.label,
      label: `${t.label}${t.ratio !== undefined ? ` — ${t.ratio.toFixed(2)}× the req/s without HUPs` : ''}`,
      bins: t.bins,
      marks: t.hupsMs,
      baseline: t.calmPerBin,
    })),
    binMs: result.binMs,
  });
  const file = `${base}-reload-storm.svg`;
  fs.writeFileSync(file, svg);
  result.svg = path.relative(ROOT, file);
  if (!options.quick) {
    const docs = path.join(ROOT, 'docs', 'reload-storm.svg');
    fs.mkdirSync(path.dirname(docs), { recursive: true });
    fs.writeFileSync(docs, svg);
    result.svgDocs = path.relative(ROOT, docs);
  }
}

module.exports = { reloadStormPhase, stormInstances, writeReloadStormArtifacts, windowFigures, bins, maxRequestsSupport };
