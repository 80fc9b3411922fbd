'use strict';
// Backend 3: this project's ProcManager with N workers, serving the same app as cluster.js.
//
//   BENCH_WORKERS=2 node bench/apps/pm.js SOCKET
//   BENCH_CRASH_AT_START=1 ...   every worker exits with status 3 right after it starts
//   BENCH_FASTCGI=as-is ...       attach(server, { fastcgi: 'as-is' }): node-fastcgi's own connection
//                                 code, as in cluster.js, instead of attach()'s default
//   BENCH_FASTCGI=patched ...     as-is, with node-fastcgi's defects 1 and 2 corrected in place (the flag
//                                 name, and no FCGI_STDERR after FCGI_END_REQUEST), nothing else: the
//                                 narrow-patch alternative that docs/worker-path.md weighs
//   BENCH_MAX_REQUESTS=N ...      passes max_requests: N (each worker recycled after N requests), for
//                                 builds that know the parameter (the reload-storm phase checks first)
//   BENCH_ACCESS_LOG=FILE ...     passes access_log: FILE (the logging phase)
//   BENCH_WORKER_TIMEOUT=S, BENCH_SLOWLOG_TIMEOUT=S ...  worker_timeout, request_slowlog_timeout (the timeouts phase)
//   BENCH_STATUS=1 ...           status_path /status and ping_path /ping (the status phase)
//   BENCH_STATUS_LISTEN=PATH ...  status_listen on that unix socket (the boot phase reads `boot duration`)
//   BENCH_PM=ondemand, BENCH_IDLE_TIMEOUT=S ...  pm = ondemand with process_idle_timeout S
//   BENCH_BOOT_NICE=N ...         passes boot_nice: N (0 turns it off)
//   BENCH_NODE_ARGS='ARGS' ...    passes node_args: ARGS
//   BENCH_SEMI_SPACE=MiB ...      the workers' --max-semi-space-size (the memory phase); 0: V8's own
//   BENCH_COUNT_REQUESTS=1 ...    each worker prints `bench-served pid=<pid> requests=<n>` on stderr as
//                                 it exits (how far past max_requests a recycled worker served)
// BENCH_LIBRARY=DIR: the library built in DIR instead of this checkout (the baseline phase).
const { ProcManager } = require(process.env.BENCH_LIBRARY || '../..');
const { createHelloServer, socketArg } = require('./hello-server');

async function main() {
  const params = { n_processes: Number(process.env.BENCH_WORKERS || 2), listen: socketArg() };
  if (process.env.BENCH_MAX_REQUESTS) params.max_requests = Number(process.env.BENCH_MAX_REQUESTS);
  if (process.env.BENCH_BOOT_NICE) params.boot_nice = Number(process.env.BENCH_BOOT_NICE);
  if (process.env.BENCH_NODE_ARGS) params.node_args = process.env.BENCH_NODE_ARGS;
  if (process.env.BENCH_SEMI_SPACE !== undefined) params.max_semi_space = Number(process.env.BENCH_SEMI_SPACE); // 0: V8's own
  if (process.env.BENCH_ACCESS_LOG) params.access_log = process.env.BENCH_ACCESS_LOG;
  if (process.env.BENCH_STATUS === '1') Object.assign(params, { status_path: '/status', ping_path: '/ping' });
  if (process.env.BENCH_STATUS_LISTEN) params.status_listen = process.env.BENCH_STATUS_LISTEN;
  if (process.env.BENCH_PM) Object.assign(params, { pm: process.env.BENCH_PM, process_idle_timeout: Number(process.env.BENCH_IDLE_TIMEOUT || 10) });
  if (process.env.BENCH_WORKER_TIMEOUT) params.worker_timeout = Number(process.env.BENCH_WORKER_TIMEOUT);
  if (process.env.BENCH_SLOWLOG_TIMEOUT) params.request_slowlog_timeout = Number(process.env.BENCH_SLOWLOG_TIMEOUT);
  const pm = new ProcManager(params);
  await pm.manage();
  // From here on this is a worker.
  if (process.env.BENCH_CRASH_AT_START === '1') process.exit(3);
  const fastcgi = process.env.BENCH_FASTCGI;
  if (fastcgi === 'patched') patchNodeFastcgiInPlace();
  const server = createHelloServer();
  if (process.env.BENCH_COUNT_REQUESTS === '1') {
    let served = 0;
    server.on('request', () => served++);
    process.on('exit', () => process.stderr.write(`bench-served pid=${process.pid} requests=${served}\n`));
  }
  await pm.attach(server, fastcgi ? { fastcgi: fastcgi === 'patched' ? 'as-is' : fastcgi } : {});
}

function patchNodeFastcgiInPlace() {
  require('fastcgi-stream').records.BeginRequest.flags.KEEP_CONN = 1;
  const { OutputStream } = require('node-fastcgi/lib/streams.js');
  const destroy = OutputStream.prototype._destroy;
  OutputStream.prototype._destroy = function (err, callback) {
    this._finalized = true;
    destroy.call(this, err, callback);
  };
}

main().catch((err) => {
  console.error(`pm.js: ${err.message}`);
  process.exit(2);
});
