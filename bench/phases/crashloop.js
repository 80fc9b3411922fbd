'use strict';
// A worker that crashes at start: how often the manager forks, and what that costs it. Ours
// backs off; Perl's FCGI::ProcManager 0.28 forks again at once. Each run is bounded in time.

const procfs = require('../lib/procfs');
const processes = require('../lib/processes');

async function crashLoopPhase(ctx, ids, log) {
  const { options } = ctx;
  const runs = [];
  for (const id of ids) {
    const instance = await ctx.launch(id, { name: `crash-${id}`, crashAtStart: true, waitReady: false });
    const { proc } = instance;
    await proc.waitFor(/manager \(pid \d+\): initialized/);
    const forksBefore = proc.count(/server \(pid \d+\) started/);
    const cpuBefore = procfs.processCpuUs(proc.pid);
    const t0 = process.hrtime.bigint();
    await processes.sleep(options.crashSeconds * 1000);
    const cpuAfter = procfs.processCpuUs(proc.pid);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const forks = proc.count(/server \(pid \d+\) started/) - forksBefore;
    await ctx.stop(instance, { graceMs: 2_000 });
    const run = {
      backend: id,
      seconds,
      forks,
      forksPerSecond: forks / seconds,
      managerCpuPct: cpuAfter && cpuBefore ? (100 * (cpuAfter.self - cpuBefore.self)) / (seconds * 1e6) : undefined,
      // The crashing workers' own CPU, as reaped by the manager.
      workersCpuPct: cpuAfter && cpuBefore ? (100 * (cpuAfter.children - cpuBefore.children)) / (seconds * 1e6) : undefined,
      lastLines: proc.lines.filter((l) => /forking again|exited/.test(l)).slice(-2),
    };
    runs.push(run);
    log(
      `${id.padEnd(5)} crash at start: ${forks} forks in ${seconds.toFixed(1)} s (${run.forksPerSecond.toFixed(1)}/s); ` +
        `manager CPU ${run.managerCpuPct?.toFixed(1)}%, crashing workers ${run.workersCpuPct?.toFixed(1)}% (of one core)`,
    );
  }
  return { runs };
}

module.exports = { crashLoopPhase };
