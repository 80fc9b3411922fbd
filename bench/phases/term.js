'use strict';
// TERM: time from the signal to the manager's exit, with idle workers and with one request of
// 1 s in flight, and whether that request was answered. PHP-FPM's TERM is its immediate stop;
// its graceful stop, QUIT, is measured too.

const procfs = require('../lib/procfs');
const processes = require('../lib/processes');
const { httpGet } = require('../lib/http');
const { summarize } = require('../lib/stats');

/** Long enough for every worker to be idle in accept() after the first answer. */
const SETTLE_MS = 500;
/** How long after sending the 1-s request the signal goes: the request is then surely in a worker. */
const IN_FLIGHT_LEAD_MS = 300;

function variants(id) {
  const v = [
    { key: 'idle', signal: 'SIGTERM', inFlight: false },
    { key: 'in-flight', signal: 'SIGTERM', inFlight: true },
  ];
  if (id === 'php') v.push({ key: 'idle QUIT', signal: 'SIGQUIT', inFlight: false }, { key: 'in-flight QUIT', signal: 'SIGQUIT', inFlight: true });
  return v;
}

async function termPhase(ctx, ids, log) {
  const { options, nginx } = ctx;
  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const id of ids) {
      for (const variant of variants(id)) {
        const name = `term-${id}`;
        const instance = await ctx.launch(id, { name });
        await processes.sleep(SETTLE_MS);
        const request = variant.inFlight ? httpGet(`${nginx.url('plain', name)}?sleep=1`, { timeoutMs: 10_000 }) : undefined;
        if (request) await processes.sleep(IN_FLIGHT_LEAD_MS);
        const sentAt = process.hrtime.bigint();
        processes.signal(instance.proc, variant.signal);
        const exit = await Promise.race([instance.proc.exited, processes.sleep(70_000).then(() => undefined)]);
        const exitMs = exit ? Number(exit.atNs - sentAt) / 1e6 : undefined;
        // Workers still alive after their manager exited (they would hold the socket or be orphans).
        const leftBehind = procfs.allStats().filter((st) => st.pgrp === instance.proc.pid && st.state !== 'Z').length;
        const answer = request ? await request : undefined;
        await ctx.stop(instance);
        const run = {
          round,
          backend: id,
          variant: variant.key,
          signal: variant.signal,
          exitMs,
          exitCode: exit ? exit.code ?? exit.signal : 'still running after 70 s',
          leftBehind,
          request: answer && { status: answer.status, completed: answer.status === 200 && answer.body === 'hello', ms: answer.ms },
        };
        runs.push(run);
        log(
          `round ${round} ${id.padEnd(5)} ${variant.key.padEnd(14)} exit after ${exitMs?.toFixed(1)} ms (status ${run.exitCode}, ${leftBehind} left behind)` +
            (answer ? `; request ${run.request.completed ? 'completed' : `FAILED (${answer.status} ${answer.error ?? ''})`} in ${answer.ms.toFixed(0)} ms` : ''),
        );
      }
    }
  }
  const summary = {};
  for (const id of ids) {
    for (const variant of variants(id)) {
      const rs = runs.filter((r) => r.backend === id && r.variant === variant.key);
      summary[`${id}/${variant.key}`] = {
        backend: id,
        variant: variant.key,
        signal: variant.signal,
        exitMs: summarize(rs.map((r) => r.exitMs)),
        requestsCompleted: variant.inFlight ? rs.filter((r) => r.request?.completed).length : undefined,
        runs: rs.length,
        leftBehind: rs.reduce((n, r) => n + r.leftBehind, 0),
      };
    }
  }
  return { runs, summary };
}

module.exports = { termPhase };
