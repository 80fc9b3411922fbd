'use strict';
// Scheduling policy and the manager's own overhead, in short runs repeated many times.
//
// A naive pool (workers call server.listen(path); node:cluster shares the socket through the
// primary) with round-robin or SCHED_NONE, against ProcManager's manager-owned socket with the
// same node-fastcgi code (3a) and with attach()'s defaults (3). CPU per request is split between
// the top process (cluster primary / manager) and the workers, so the cost of the primary's
// accept-and-pass in round-robin shows apart from the workers' own. More, shorter runs than the
// throughput phase: the median of many side-by-side ratios holds up better on a shared machine.

const procfs = require('../lib/procfs');
const { runWrk } = require('../lib/wrk');
const { summarize } = require('../lib/stats');

const POOLS = ['cluster-rr', 'cluster-none', 'pm-asis', 'pm'];
const BASELINE = 'cluster-none';

async function policyPhase(ctx, ids, log) {
  const { options, nginx } = ctx;
  const pools = POOLS.filter((id) => ids.includes(id));
  const instances = {};
  for (const id of pools) instances[id] = await ctx.launch(id, { name: `policy-${id}` });
  const runs = [];
  for (let rep = 1; rep <= options.policyRepeats; rep++) {
    for (const id of pools) {
      const root = instances[id].proc.pid;
      const tree = procfs.treeOf(root);
      const before = new Map(tree.map((st) => [st.pid, st.utime + st.stime]));
      const w = await runWrk(nginx.url('plain', `policy-${id}`), { seconds: options.policySeconds, connections: options.connections, threads: options.threads });
      let topUs = 0;
      let workersUs = 0;
      for (const st of tree) {
        const now = procfs.readStat(st.pid);
        if (!now) continue;
        const us = (now.utime + now.stime - before.get(st.pid)) * procfs.US_PER_TICK;
        if (st.pid === root) topUs += us;
        else workersUs += us;
      }
      const req = Math.max(1, w.requests);
      runs.push({ rep, pool: id, rps: w.rps, topUsPerReq: topUs / req, workersUsPerReq: workersUs / req, usPerReq: (topUs + workersUs) / req });
    }
    const line = pools.map((id) => {
      const r = runs.find((x) => x.rep === rep && x.pool === id);
      return `${id} ${r.rps.toFixed(0)} req/s ${r.usPerReq.toFixed(0)} µs`;
    });
    log(`repeat ${rep}: ${line.join(' | ')}`);
  }
  for (const id of pools) await ctx.stop(instances[id]);

  const summary = {};
  for (const id of pools) {
    const rs = runs.filter((r) => r.pool === id);
    const ratios = rs.map((r) => {
      const base = runs.find((x) => x.rep === r.rep && x.pool === BASELINE);
      return base ? { rps: r.rps / base.rps, cpu: r.usPerReq / base.usPerReq } : undefined;
    }).filter(Boolean);
    summary[id] = {
      rps: summarize(rs.map((r) => r.rps)),
      usPerReq: summarize(rs.map((r) => r.usPerReq)),
      topUsPerReq: summarize(rs.map((r) => r.topUsPerReq)),
      workersUsPerReq: summarize(rs.map((r) => r.workersUsPerReq)),
      rpsVsBaseline: summarize(ratios.map((r) => r.rps)),
      cpuVsBaseline: summarize(ratios.map((r) => r.cpu)),
    };
  }
  return { baseline: BASELINE, repeats: options.policyRepeats, seconds: options.policySeconds, runs, summary };
}

module.exports = { policyPhase };
