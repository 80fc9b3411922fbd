'use strict';
// Backend 2: a naive node:cluster pool with no manager logic: the primary forks N workers and
// each worker calls server.listen(path) itself (node:cluster then shares the socket through the
// primary). Nothing replaces a worker that exits.
//
//   BENCH_WORKERS=2 BENCH_SCHED=rr|none node bench/apps/cluster.js SOCKET
const cluster = require('node:cluster');
const { createHelloServer, socketArg } = require('./hello-server');

const path = socketArg();
// Must be set before the first fork. 'rr' is node's default on Linux: the primary accepts every
// connection and hands it to a worker over IPC. 'none' lets every worker accept on the shared fd.
cluster.schedulingPolicy = process.env.BENCH_SCHED === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;

if (cluster.isPrimary) {
  const n = Number(process.env.BENCH_WORKERS || 2);
  for (let i = 0; i < n; i++) cluster.fork();
  // No signal handling: TERM ends the primary at once, and its workers exit when the IPC channel closes.
} else {
  createHelloServer().listen(path);
}
