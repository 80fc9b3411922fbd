'use strict';
// One measured load run: wrk against a URL, with the CPU that the backend's process tree, nginx,
// wrk and everything else on the machine used meanwhile, and nginx's error-log lines.

const os = require('node:os');
const procfs = require('./procfs');
const { runWrk } = require('./wrk');
const { fileSize, readSince, countErrorLines } = require('./nginx');

/**
 * `root`: pid of the backend's top process (undefined for nginx's own `return 200`).
 * `during(wrkProc)`: called once wrk runs (the reload phase sends its signal from there).
 */
async function measureLoad(ctx, { url, root, seconds, during }) {
  const { options, nginx } = ctx;
  const errorOffset = fileSize(nginx.errorLog);
  const before = sample(root, nginx.proc.pid);
  const wrk = await runWrk(url, {
    seconds,
    connections: options.connections,
    threads: options.threads,
    during,
  });
  const after = sample(root, nginx.proc.pid);
  const nginxErrors = countErrorLines(readSince(nginx.errorLog, errorOffset));
  const req = Math.max(1, wrk.requests);
  const backendUs = root === undefined ? 0 : after.backend - before.backend;
  const nginxUs = after.nginx - before.nginx;
  const busyUs = after.system.busy - before.system.busy;
  const totalUs = after.system.total - before.system.total;
  const othersUs = busyUs - backendUs - nginxUs - (wrk.wrkCpuUs ?? 0);
  return {
    ...wrk,
    // What the client saw fail. nginx's error-log lines are kept apart: with fastcgi_keep_conn,
    // nginx logs a line and retries when a backend closed a pooled connection, and the client
    // still gets its 200.
    failed: wrk.non2xx + wrk.socketErrors,
    nginxErrors,
    cpu: {
      backendUsPerReq: root === undefined ? undefined : backendUs / req,
      nginxUsPerReq: nginxUs / req,
      wrkUsPerReq: wrk.wrkCpuUs === undefined ? undefined : wrk.wrkCpuUs / req,
      // Machine CPU outside backend, nginx and wrk (kernel softirq for loopback traffic, and
      // other people's processes): the noise indicator of this run, in % of all cores.
      othersPct: totalUs > 0 ? (100 * Math.max(0, othersUs)) / totalUs : undefined,
      machineBusyPct: totalUs > 0 ? (100 * busyUs) / totalUs : undefined,
    },
    memory: root === undefined ? undefined : memoryOf(root),
  };
}

function sample(root, nginxPid) {
  const stats = procfs.allStats();
  return {
    backend: root === undefined ? 0 : procfs.treeCpuUs(root, stats),
    nginx: procfs.treeCpuUs(nginxPid, stats),
    system: procfs.systemCpuUs(),
  };
}

/** RSS of the top process and the mean RSS of the processes under it (the workers), in MiB. */
function memoryOf(root) {
  const tree = procfs.treeOf(root);
  const children = tree.filter((st) => st.pid !== root).map((st) => procfs.rssKb(st.pid)).filter((x) => x !== undefined);
  const topKb = procfs.rssKb(root);
  return {
    topRssMiB: topKb === undefined ? undefined : topKb / 1024,
    workerRssMiB: children.length ? children.reduce((a, b) => a + b, 0) / children.length / 1024 : undefined,
    processes: tree.length,
  };
}

module.exports = { measureLoad, memoryOf, cores: os.cpus().length };
