'use strict';
// The main example: a node-fastcgi hello-world served by a pool of workers under the manager.
//
//   node examples/hello.js            # 4 workers on 127.0.0.1:9000
//   REQUEST_METHOD=GET QUERY_STRING= SCRIPT_NAME=/ cgi-fcgi -bind -connect 127.0.0.1:9000
//
// Environment: FCGI_LISTEN (unix path, host:port or port; default 127.0.0.1:9000; a listening
// socket inherited on fd 0 wins), PM_N_PROCESSES (4), PM_PID_FILE, PM_DIE_TIMEOUT (60 s),
// PM_START_DELAY (0 s), PM_RELOAD_SURGE (n_processes), PM_RELOAD_TIMEOUT (30 s),
// PM_RELOAD_WARMUP (1 s), PM_BOOT_NICE (10; 0: off), PM_MAX_REQUESTS (0: off),
// PM_MAX_REQUESTS_JITTER (0), PM_MAX_MEMORY (0: off; bytes or '300M'), PM_LOG_FILE (stderr),
// PM_LOG_TIMESTAMPS (off), PM_ACCESS_LOG (off), PM_ACCESS_FORMAT ('%R - %u %t "%m %r" %s'),
// PM_LOGGER=console (the library's lines go to console.info/warn/error),
// PM_REQUEST_TERMINATE_TIMEOUT (0: off), PM_WORKER_TIMEOUT (0: off), PM_REQUEST_SLOWLOG_TIMEOUT (0: off),
// PM_SLOWLOG (the log), PM_STATUS_PATH (off; e.g. /status), PM_PING_PATH (off; e.g. /ping),
// PM_PING_RESPONSE (pong), PM_STATUS_LISTEN (off; a unix path or 127.0.0.1:PORT),
// PM_STATUS_LISTEN_PUBLIC (off), PM_PM (static; or dynamic, where PM_N_PROCESSES is the maximum),
// PM_START_SERVERS, PM_MIN_SPARE_SERVERS, PM_MAX_SPARE_SERVERS, PM_MAX_SPAWN_RATE (32),
// PM_PROCESS_IDLE_TIMEOUT (10 s; pm = ondemand), PM_USER, PM_GROUP (as root: the workers' user and group), PM_LISTEN_OWNER, PM_LISTEN_GROUP, PM_LISTEN_MODE
// (0660), PM_LISTEN_BACKLOG (511), PM_LISTEN_ALLOWED_CLIENTS (all; e.g. 127.0.0.1,::1), PM_CRASH_ON_START=1 (each worker exits with status 3 at once: shows the backoff, then the manager gives up),
// PM_HANG_ON_START=1 (each worker starts and never serves),
// PM_LOG_REQUESTS=1 (each worker logs `request started: <url> (pid <pid>)` on stderr as a request reaches it).
// Query: ?sleep=S answers after S seconds without blocking the worker; ?busy=S blocks it for S seconds.

const fcgi = require('node-fastcgi');
const { ProcManager } = require('..');

const env = (name) => process.env[name] || undefined;

async function main() {
  const pm = new ProcManager({
    n_processes: env('PM_N_PROCESSES') ?? 4,
    die_timeout: env('PM_DIE_TIMEOUT'),
    start_delay: env('PM_START_DELAY'),
    pid_fname: env('PM_PID_FILE'),
    reload_surge: env('PM_RELOAD_SURGE'),
    reload_timeout: env('PM_RELOAD_TIMEOUT'),
    reload_warmup: env('PM_RELOAD_WARMUP'),
    boot_nice: env('PM_BOOT_NICE'),
    max_requests: env('PM_MAX_REQUESTS'),
    max_requests_jitter: env('PM_MAX_REQUESTS_JITTER'),
    max_memory: env('PM_MAX_MEMORY'),
    log_file: env('PM_LOG_FILE'),
    log_timestamps: env('PM_LOG_TIMESTAMPS'),
    access_log: env('PM_ACCESS_LOG'),
    access_format: env('PM_ACCESS_FORMAT'),
    logger: env('PM_LOGGER') === 'console' ? console : undefined,
    request_terminate_timeout: env('PM_REQUEST_TERMINATE_TIMEOUT'),
    worker_timeout: env('PM_WORKER_TIMEOUT'),
    request_slowlog_timeout: env('PM_REQUEST_SLOWLOG_TIMEOUT'),
    slowlog: env('PM_SLOWLOG'),
    status_path: env('PM_STATUS_PATH'),
    ping_path: env('PM_PING_PATH'),
    ping_response: env('PM_PING_RESPONSE'),
    status_listen: env('PM_STATUS_LISTEN'),
    status_listen_public: env('PM_STATUS_LISTEN_PUBLIC'),
    pm: env('PM_PM'),
    start_servers: env('PM_START_SERVERS'),
    min_spare_servers: env('PM_MIN_SPARE_SERVERS'),
    max_spare_servers: env('PM_MAX_SPARE_SERVERS'),
    max_spawn_rate: env('PM_MAX_SPAWN_RATE'),
    process_idle_timeout: env('PM_PROCESS_IDLE_TIMEOUT'),
    user: env('PM_USER'),
    group: env('PM_GROUP'),
    listen_owner: env('PM_LISTEN_OWNER'),
    listen_group: env('PM_LISTEN_GROUP'),
    listen_mode: env('PM_LISTEN_MODE'),
    listen_backlog: env('PM_LISTEN_BACKLOG'),
    listen_allowed_clients: env('PM_LISTEN_ALLOWED_CLIENTS'),
    listen: env('FCGI_LISTEN') ?? '127.0.0.1:9000',
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
