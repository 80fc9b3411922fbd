'use strict';
// The main example: a node-fastcgi hello-world served by a pool of workers under the manager.
//
//   node examples/hello.js            # 4 workers on 127.0.0.1:9000
//   REQUEST_METHOD=GET QUERY_STRING= SCRIPT_NAME=/ cgi-fcgi -bind -connect 127.0.0.1:9000
//
// Environment: every parameter from its variable (paramsFromEnv: FCGI_LISTEN for listen, default
// 127.0.0.1:9000, a listening socket inherited on fd 0 wins; PM_N_PROCESSES, default 4; PM_PID_FILE;
// PM_<NAME> for the others: docs/configuration.md lists them), PM_LOGGER=console (the library's lines
// go to console.info/warn/error), PM_CRASH_ON_START=1 (each worker exits with status 3 at once: shows
// the backoff, then the manager gives up), PM_HANG_ON_START=1 (each worker starts and never serves),
// PM_LOG_REQUESTS=1 (each worker logs `request started: <url> (pid <pid>)` on stderr as a request
// reaches it).
// Query: ?sleep=S answers after S seconds without blocking the worker; ?busy=S blocks it for S seconds.

const fcgi = require('node-fastcgi');
const { ProcManager, paramsFromEnv } = require('..');

const env = (name) => process.env[name] || undefined;

async function main() {
  const pm = new ProcManager({
    n_processes: 4,
    listen: '127.0.0.1:9000',
    ...paramsFromEnv(),
    logger: env('PM_LOGGER') === 'console' ? console : undefined,
  });
  await pm.manage();

  // From here on this is a worker (the manager never gets past manage()).
  if (env('PM_CRASH_ON_START') === '1') process.exit(3);
  if (env('PM_HANG_ON_START') === '1') return;

  const logRequests = env('PM_LOG_REQUESTS') === '1';
  const server = fcgi.createServer((req, res) => {
    if (logRequests) console.error(`request started: ${req.url} (pid ${process.pid})`);
    const query = new URL(req.url, 'http://localhost').searchParams;
    const reply = () => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`pid=${process.pid}\n`);
    };
    if (query.has('busy')) {
      const until = Date.now() + Number(query.get('busy')) * 1000;
      while (Date.now() < until); // deliberately blocks this worker
      reply();
    } else if (query.has('sleep')) {
      setTimeout(reply, Number(query.get('sleep')) * 1000);
    } else {
      reply();
    }
  });
  await pm.attach(server);
}

main().catch((err) => {
  console.error(`hello.js: ${err.message}`);
  process.exit(2);
});
