'use strict';
// Recovery: kill -9 a worker and time until a replacement answers. A pool of one worker is used,
// so that the first answer from a new pid is the replacement's (with two, the survivor answers).
// Requests sent meanwhile wait in the socket's backlog, which the manager keeps open.

const procfs = require('../lib/procfs');
const processes = require('../lib/processes');
const { httpGet } = require('../lib/http');
const { summarize } = require('../lib/stats');

/** Longer than ProcManager's min uptime (1 s), so that the kill is not taken for a crash at start. */
const UPTIME_BEFORE_KILL_MS = 1_500;
const GIVE_UP_MS = 15_000;

/**
 * kill -9 of the only worker of `instance` (behind nginx as `name`), timed until a new pid answers:
 * { victim, replacement, forkedMs (the manager's fork, from its log; ProcManager only), recoveredMs,
 * failures, failureSamples }.
 */
async function killAndTimeReplacement(ctx, instance, name) {
  const workers = procfs.childPids(instance.proc.pid);
  if (workers.length !== 1) throw new Error(`${name}: ${workers.length} workers, expected 1`);
  const [victim] = workers;
  const killedAt = process.hrtime.bigint();
  process.kill(victim, 'SIGKILL');
  let failures = 0;
  const failureSamples = [];
  let recoveredMs;
  let replacement;
  while (Number(process.hrtime.bigint() - killedAt) / 1e6 < GIVE_UP_MS) {
    const res = await httpGet(`${ctx.nginx.url('plain', name)}?pid`, { timeoutMs: GIVE_UP_MS });
    const pid = Number(/pid=(\d+)/.exec(res.body)?.[1]);
    if (res.status === 200 && pid && pid !== victim) {
      recoveredMs = Number(process.hrtime.bigint() - killedAt) / 1e6;
      replacement = pid;
      break;
    }
    if (res.status !== 200) {
      failures++;
      if (failureSamples.length < 3) failureSamples.push(`${res.status} ${res.error ?? res.body.slice(0, 80)}`.trim());
    }
  }
  // ProcManager logs the fork, which splits the time into the manager's reaction and the new
  // worker's start-up (the peers do not log it).
  const forkedAt = replacement ? instance.proc.lineTime(new RegExp(`server \\(pid ${replacement}\\) started`), killedAt) : undefined;
  const forkedMs = forkedAt === undefined ? undefined : Number(forkedAt - killedAt) / 1e6;
  return { victim, replacement, forkedMs, recoveredMs, failures, failureSamples };
}

async function recoveryPhase(ctx, ids, log) {
  const { options } = ctx;
  const runs = [];
  const instances = {};
  for (const id of ids) instances[id] = await ctx.launch(id, { name: `recovery-${id}`, workers: 1 });
  for (let round = 1; round <= options.rounds; round++) {
    for (const id of ids) {
      const instance = instances[id];
      await processes.sleep(UPTIME_BEFORE_KILL_MS);
      const { victim, replacement, forkedMs, recoveredMs, failures, failureSamples } = await killAndTimeReplacement(ctx, instance, `recovery-${id}`);
      runs.push({ round, backend: id, victim, replacement, forkedMs, recoveredMs, failedProbes: failures, failureSamples });
      log(
        `round ${round} ${id.padEnd(5)} kill -9 ${victim}: replacement ${replacement ?? 'none'}${forkedMs === undefined ? '' : ` forked after ${forkedMs.toFixed(1)} ms,`} ` +
          `answered after ${recoveredMs?.toFixed(1) ?? '-'} ms (${failures} failed probes${failures ? `: ${failureSamples.join(', ').replace(/\s+/g, ' ').slice(0, 120)}` : ''})`,
      );
    }
  }
  for (const id of ids) await ctx.stop(instances[id]);
  const summary = {};
  for (const id of ids) {
    const rs = runs.filter((r) => r.backend === id);
    summary[id] = { forkedMs: summarize(rs.map((r) => r.forkedMs)), recoveredMs: summarize(rs.map((r) => r.recoveredMs)), failedProbes: rs.reduce((n, r) => n + r.failedProbes, 0), runs: rs.length };
  }
  return { runs, summary };
}

module.exports = { recoveryPhase, killAndTimeReplacement, UPTIME_BEFORE_KILL_MS };
