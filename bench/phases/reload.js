'use strict';
// Reload under load: one reload signal to the manager (HUP to ours and to Perl's, USR2 to
// PHP-FPM's master) a third into a wrk run. Failed requests are non-2xx answers, socket errors
// and nginx error-log lines; latency around the reload comes from nginx's access log ($msec is
// when a request ended, $request_time how long it took).

const fs = require('node:fs');
const procfs = require('../lib/procfs');
const processes = require('../lib/processes');
const { measureLoad } = require('../lib/measure');
const { fileSize, readSince } = require('../lib/nginx');
const { waitUntilAnswers } = require('../lib/http');
const { summarize, percentile } = require('../lib/stats');
const { BACKENDS } = require('../lib/backends');

async function reloadPhase(ctx, ids, log) {
  const { options, nginx } = ctx;
  const instances = {};
  for (const id of ids) instances[id] = await ctx.launch(id, { name: `reload-${id}` });

  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const id of ids) {
      const instance = instances[id];
      const name = `reload-${id}`;
      const logFile = nginx.accessLog('plain', name);
      const logOffset = fileSize(logFile);
      const workersBefore = procfs.childPids(instance.proc.pid);
      let signalAtMs;
      const linesBefore = instance.proc.lines.length;
      const r = await measureLoad(ctx, {
        url: nginx.url('plain', name, true),
        root: instance.proc.pid,
        seconds: options.reloadDuration,
        during: () =>
          processes.sleep((options.reloadDuration * 1000) / 3).then(() => {
            signalAtMs = Date.now();
            processes.signal(instance.proc, BACKENDS[id].reloadSignal);
          }),
      });
      // The pool must be whole again before the next run.
      await waitUntilAnswers(`${nginx.url('plain', name)}?pid`);
      const workersAfter = procfs.childPids(instance.proc.pid);
      const window = reloadWindow(readSince(logFile, logOffset), signalAtMs, options.reloadWindow * 1000);
      const run = {
        round,
        backend: id,
        signal: BACKENDS[id].reloadSignal,
        requests: r.requests,
        rps: r.rps,
        non2xx: r.non2xx,
        socketErrors: r.socketErrors,
        nginxErrorLines: r.nginxErrors.failures,
        nginxStderrLines: r.nginxErrors.stderr,
        nginxErrorSamples: r.nginxErrors.samples,
        failed: r.non2xx + r.socketErrors + r.nginxErrors.failures,
        workersReplaced: workersBefore.filter((pid) => !workersAfter.includes(pid)).length,
        workers: workersBefore.length,
        wrkLatencyMs: r.latencyMs,
        window,
        // ProcManager says how long its rolling reload took, under this load.
        reloadSeconds: reloadSecondsLogged(instance.proc.lines.slice(linesBefore)),
      };
      runs.push(run);
      log(
        `round ${round} ${id.padEnd(5)} ${BACKENDS[id].reloadSignal}: failed ${run.failed} (non-2xx ${run.non2xx}, socket ${run.socketErrors}, nginx ${run.nginxErrorLines}; stderr lines ${run.nginxStderrLines}); ` +
          `replaced ${run.workersReplaced}/${run.workers}; window p99 ${window.p99Ms} ms, max ${window.maxMs} ms (steady p99 ${window.steadyP99Ms} ms)`,
      );
    }
  }
  for (const id of ids) await ctx.stop(instances[id]);

  const summary = {};
  for (const id of ids) {
    const rs = runs.filter((r) => r.backend === id);
    summary[id] = {
      signal: BACKENDS[id].reloadSignal,
      failedTotal: rs.reduce((n, r) => n + r.failed, 0),
      non2xxTotal: rs.reduce((n, r) => n + r.non2xx, 0),
      socketErrorsTotal: rs.reduce((n, r) => n + r.socketErrors, 0),
      nginxErrorLinesTotal: rs.reduce((n, r) => n + r.nginxErrorLines, 0),
      nginxStderrLinesTotal: rs.reduce((n, r) => n + r.nginxStderrLines, 0),
      requestsTotal: rs.reduce((n, r) => n + r.requests, 0),
      failed: summarize(rs.map((r) => r.failed)),
      replacedAll: rs.every((r) => r.workersReplaced === r.workers),
      windowP99Ms: summarize(rs.map((r) => r.window.p99Ms)),
      windowMaxMs: summarize(rs.map((r) => r.window.maxMs)),
      steadyP99Ms: summarize(rs.map((r) => r.window.steadyP99Ms)),
      rps: summarize(rs.map((r) => r.rps)),
      reloadSeconds: summarize(rs.map((r) => r.reloadSeconds).filter((x) => x !== undefined)),
      errorSamples: [...new Set(rs.flatMap((r) => r.nginxErrorSamples))].slice(0, 2),
    };
  }
  return { windowSeconds: options.reloadWindow, runs, summary };
}

/** The seconds of "reload complete: generation N, M servers accepting in S s" among `lines`. */
function reloadSecondsLogged(lines) {
  for (const line of lines) {
    const m = /reload complete: generation \d+, \d+ servers? accepting in ([\d.]+) s/.exec(line);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * From access-log lines "<msec> <status> <request_time> <X-Pid>": the requests in flight at any moment of
 * [signalAt, signalAt + windowMs], and for comparison those that ended before the signal.
 */
function reloadWindow(text, signalAtMs, windowMs) {
  const inWindow = [];
  const before = [];
  let non200 = 0;
  for (const line of text.split('\n')) {
    const [msec, status, requestTime] = line.trim().split(' ');
    if (!requestTime) continue;
    const endMs = Number(msec) * 1000;
    const tookMs = Number(requestTime) * 1000;
    if (signalAtMs === undefined) continue;
    if (endMs < signalAtMs) before.push(tookMs);
    else if (endMs - tookMs <= signalAtMs + windowMs) {
      inWindow.push(tookMs);
      if (status !== '200') non200++;
    }
  }
  inWindow.sort((a, b) => a - b);
  before.sort((a, b) => a - b);
  return {
    requests: inWindow.length,
    non200,
    p99Ms: percentile(inWindow, 99),
    maxMs: inWindow.length ? inWindow[inWindow.length - 1] : undefined,
    steadyP99Ms: percentile(before, 99),
  };
}

module.exports = { reloadPhase, reloadWindow };
