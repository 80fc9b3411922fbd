#!/usr/bin/env node
'use strict';
// Side-by-side measurement of the worker's FastCGI path behind nginx, in one run on this machine:
//
//   node scripts/measure-worker-path.js [--seconds 5] [--connections 32] [--workers 2] [--rounds 1]
//                                       [--only name,name] [--profile]
//
// Each backend runs as a pool of --workers processes on a unix socket, with its own nginx in front;
// wrk drives nginx over loopback. For every backend it reports req/s, the CPU time its processes
// (manager and workers) spent per request, and nginx's. With --rounds > 1 the backends are measured
// in turns (ABAB...): the table shows medians, and each ratio is the median of the ratios within a
// round (backends measured seconds apart), so that a noisy neighbour hurts both sides alike.
// With --profile, one extra run of the worker path with a single worker under --cpu-prof prints where
// its CPU goes (self time by function, top entries).
//
// Needs nginx, wrk, Perl's FCGI and FCGI::ProcManager, and php-fpm8.2 (a missing one is skipped).
// Every run is bounded in time (wrk -d) and traffic goes only to 127.0.0.1 and unix sockets.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');

const ROOT = path.resolve(__dirname, '..');

// ---- The backends' own code (this script re-runs itself with --serve <kind> <socket> <workers>) ----

if (process.argv[2] === '--serve') serve(process.argv[3], process.argv[4], Number(process.argv[5]));

function serve(kind, socketPath, workers) {
  const fcgi = require('node-fastcgi');
  if (kind === 'node-patched') {
    // Approach (a) at its simplest, for comparison: node-fastcgi with defects 1 and 2 corrected in
    // place (the flag name, and no FCGI_STDERR after FCGI_END_REQUEST), nothing else.
    require('fastcgi-stream').records.BeginRequest.flags.KEEP_CONN = 1;
    const { OutputStream } = require('node-fastcgi/lib/streams.js');
    const destroy = OutputStream.prototype._destroy;
    OutputStream.prototype._destroy = function (err, callback) {
      this._finalized = true;
      destroy.call(this, err, callback);
    };
  }
  const { ProcManager } = require(ROOT);
  const pm = new ProcManager({ n_processes: workers, listen: socketPath });
  pm.manage().then(async () => {
    const server = fcgi.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`pid=${process.pid}\n`);
    });
    await pm.attach(server, { fastcgi: kind === 'worker-path' ? 'worker-path' : 'as-is' });
  });
}

const PERL_APP = `
use strict; use warnings;
use FCGI; use FCGI::ProcManager;
my ($path, $n) = @ARGV;
my $socket = FCGI::OpenSocket($path, 1024);
my $request = FCGI::Request(\\*STDIN, \\*STDOUT, \\*STDERR, \\%ENV, $socket, FCGI::FAIL_ACCEPT_ON_INTR);
my $pm = FCGI::ProcManager->new({ n_processes => $n });
$pm->pm_manage();
while ($request->Accept() >= 0) {
  $pm->pm_pre_dispatch();
  print "Status: 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\npid=$$\\n";
  $pm->pm_post_dispatch();
}
`;

const PHP_APP = `<?php header('Content-Type: text/plain'); echo 'pid=', getmypid(), "\\n";`;

// ---- Plumbing ---------------------------------------------------------------------------------

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
const PHP_FPM = ['/usr/sbin/php-fpm8.2', '/usr/sbin/php-fpm'].find((p) => fs.existsSync(p));

function parseArgs(argv) {
  const opts = { seconds: 5, connections: 32, workers: 2, rounds: 1, only: undefined, profile: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      const value = argv[++i];
      if (value === undefined) fail(`${arg} needs a value`);
      return value;
    };
    if (arg === '--seconds') opts.seconds = positive(arg, next());
    else if (arg === '--connections') opts.connections = positive(arg, next());
    else if (arg === '--workers') opts.workers = positive(arg, next());
    else if (arg === '--rounds') opts.rounds = positive(arg, next());
    else if (arg === '--only') opts.only = next().split(',');
    else if (arg === '--profile') opts.profile = true;
    else fail(`unknown argument ${arg}`);
  }
  if (opts.seconds > 60) fail('--seconds: at most 60');
  if (opts.rounds > 9) fail('--rounds: at most 9');
  return opts;
}

function positive(name, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail(`${name}: expected a positive integer, got ${value}`);
  return n;
}

function fail(msg) {
  console.error(`measure-worker-path: ${msg}`);
  process.exit(2);
}

function have(command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const children = new Set();
function start(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...options });
  children.add(child);
  child.log = '';
  child.stderr?.on('data', (d) => (child.log = (child.log + d).slice(-20_000)));
  child.on('exit', () => children.delete(child));
  return child;
}

function stopGroup(child) {
  if (!children.has(child)) return Promise.resolve();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return Promise.resolve();
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }, 5_000);
  return exited.finally(() => clearTimeout(timer));
}

process.on('exit', () => {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForSocket(socketPath, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(socketPath, () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${socketPath}`);
}

/** CPU seconds (user+system) of every live process in process group `pgid`. */
function groupCpuSeconds(pgid) {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
    if (Number(fields[2]) !== pgid) continue;
    total += (Number(fields[11]) + Number(fields[12])) / tick;
  }
  return total;
}

function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function startNginx(dir, socketPath, keepConn, keepalive) {
  const port = await freePort();
  const prefix = path.join(dir, `nginx-${port}`);
  fs.mkdirSync(path.join(prefix, 'tmp'), { recursive: true });
  // As root, nginx's workers would run as nobody, who may not connect to our sockets.
  const conf = `
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
daemon off;
pid nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path tmp; fastcgi_temp_path tmp; proxy_temp_path tmp; uwsgi_temp_path tmp; scgi_temp_path tmp;
  upstream app {
    server unix:${socketPath};
    ${keepConn ? `keepalive ${keepalive};` : ''}
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME ${dir}/app.php;
      fastcgi_pass app;
      ${keepConn ? 'fastcgi_keep_conn on;' : ''}
    }
  }
}`;
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
  const nginx = start(NGINX, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')]);
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    await sleep(50);
  }
  nginx.port = port;
  nginx.errorLog = () => {
    try {
      return fs.readFileSync(path.join(prefix, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  return nginx;
}

function wrk(port, seconds, connections) {
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`], {
    encoding: 'utf8',
    timeout: (seconds + 30) * 1000,
  });
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: (.*)/.exec(out)?.[1];
  const elapsed = Number(/requests in ([\d.]+)s/.exec(out)?.[1] ?? seconds);
  return { requests, non2xx, socketErrors, rps: requests / elapsed, raw: out };
}

// ---- Backends ---------------------------------------------------------------------------------

function backends(opts, dir) {
  const n = opts.workers;
  const node = (kind, extraArgs = []) => (socketPath) =>
    start(process.execPath, [...extraArgs, __filename, '--serve', kind, socketPath, String(n)], { cwd: dir });
  // Perl first and the worker path with kept connections next to it: the pair compared most.
  const list = [
    { name: 'perl', label: 'Perl FCGI::ProcManager', keep: false, run: (s) => start('perl', ['-e', PERL_APP, s, String(n)]), needs: perlOk },
    { name: 'worker-path-keep', label: 'worker path, nginx keep_conn', keep: true, run: node('worker-path') },
    { name: 'php-fpm', label: 'PHP-FPM (pm static)', keep: false, run: (s) => startPhpFpm(dir, s, n), needs: () => !!PHP_FPM },
    // Not in the default set: a libfcgi process serves one connection at a time, so with kept
    // connections the others wait (see docs/worker-path.md).
    { name: 'perl-keep', label: 'Perl FCGI::ProcManager, nginx keep_conn', keep: true, optional: true, run: (s) => start('perl', ['-e', PERL_APP, s, String(n)]), needs: perlOk },
    { name: 'worker-path', label: 'worker path', keep: false, run: node('worker-path') },
    { name: 'node-as-is', label: 'node-fastcgi as is', keep: false, run: node('node-as-is') },
    { name: 'node-as-is-keep', label: 'node-fastcgi as is, nginx keep_conn', keep: true, run: node('node-as-is') },
    { name: 'node-patched-keep', label: 'node-fastcgi, defects 1+2 patched, nginx keep_conn', keep: true, run: node('node-patched') },
  ];
  return list.filter((b) => (opts.only ? opts.only.includes(b.name) : !b.optional));
}

function perlOk() {
  try {
    execFileSync('perl', ['-MFCGI', '-MFCGI::ProcManager', '-e1'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function startPhpFpm(dir, socketPath, n) {
  const conf = path.join(dir, `php-fpm-${path.basename(socketPath)}.conf`);
  fs.writeFileSync(path.join(dir, 'app.php'), PHP_APP);
  fs.writeFileSync(
    conf,
    `[global]
pid = ${conf}.pid
error_log = ${conf}.log
daemonize = no
[app]
listen = ${socketPath}
listen.backlog = 1024
pm = static
pm.max_children = ${n}
pm.max_requests = 0
catch_workers_output = no
`,
  );
  return start(PHP_FPM, ['-F', '-R', '-n', '-y', conf]);
}

async function measureOne(backend, opts, dir) {
  const socketPath = path.join(dir, `${backend.name}-${Date.now()}.sock`);
  const app = backend.run(socketPath);
  try {
    await waitForSocket(socketPath);
    await sleep(300); // let every worker reach accept()
    // nginx keeps at most `keepalive` idle connections per nginx worker; enough for every wrk connection.
    const nginx = await startNginx(dir, socketPath, backend.keep, opts.connections);
    try {
      wrk(nginx.port, 1, opts.connections); // warm-up (JIT, connection pools)
      const appCpu0 = groupCpuSeconds(app.pid);
      const nginxCpu0 = groupCpuSeconds(nginx.pid);
      const result = wrk(nginx.port, opts.seconds, opts.connections);
      const appCpu = groupCpuSeconds(app.pid) - appCpu0;
      const nginxCpu = groupCpuSeconds(nginx.pid) - nginxCpu0;
      const errors = nginx
        .errorLog()
        .split('\n')
        .filter((l) => /\[(error|crit|alert|emerg)\]/.test(l));
      return {
        rps: result.rps,
        appUs: result.requests ? (appCpu * 1e6) / result.requests : NaN,
        nginxUs: result.requests ? (nginxCpu * 1e6) / result.requests : NaN,
        failed: result.non2xx + (result.socketErrors ? 1 : 0),
        socketErrors: result.socketErrors,
        nginxErrors: errors.length,
        firstError: errors[0],
      };
    } finally {
      await stopGroup(nginx);
    }
  } finally {
    await stopGroup(app);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!NGINX) fail('nginx is not installed (Debian nginx-light)');
  if (!have('wrk')) fail('wrk is not installed (Debian wrk)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'measure-worker-path-'));
  const list = backends(opts, dir).filter((b) => {
    if (b.needs && !b.needs()) {
      console.error(`skipping ${b.name}: not installed`);
      return false;
    }
    return true;
  });
  console.log(
    `# ${os.cpus().length} CPUs, node ${process.version}, ${opts.workers} workers each, wrk -c${opts.connections} ${opts.seconds}s, ${opts.rounds} round(s)`,
  );
  const samples = new Map(list.map((b) => [b.name, []]));
  for (let round = 0; round < opts.rounds; round++) {
    for (const backend of list) {
      const r = await measureOne(backend, opts, dir);
      samples.get(backend.name).push(r);
      console.error(
        `round ${round + 1} ${backend.name}: ${r.rps.toFixed(0)} req/s, ${r.appUs.toFixed(0)} µs app + ${r.nginxUs.toFixed(0)} µs nginx CPU/request` +
          (r.failed ? `, FAILED ${r.failed} (${r.socketErrors ?? ''})` : '') +
          (r.nginxErrors ? `, ${r.nginxErrors} nginx errors: ${r.firstError}` : ''),
      );
    }
  }
  const summary = list.map((b) => {
    const rs = samples.get(b.name);
    return {
      name: b.name,
      label: b.label,
      rps: median(rs.map((r) => r.rps)),
      appUs: median(rs.map((r) => r.appUs)),
      nginxUs: median(rs.map((r) => r.nginxUs)),
      failed: rs.reduce((a, r) => a + r.failed, 0),
      nginxErrors: rs.reduce((a, r) => a + r.nginxErrors, 0),
    };
  });
  // Ratios are taken within each round (the two measured a few seconds apart), then the median.
  const ratio = (name, base, field) => {
    const mine = samples.get(name);
    const theirs = samples.get(base);
    if (!mine || !theirs) return undefined;
    return median(mine.map((r, i) => r[field] / theirs[i][field]));
  };
  console.log('');
  console.log('| backend | req/s | app CPU µs/req | nginx CPU µs/req | req/s vs Perl | CPU vs Perl | req/s vs PHP-FPM | failed | nginx errors |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const show = (x) => (x === undefined ? '–' : x.toFixed(2));
  for (const s of summary) {
    console.log(
      `| ${s.label} | ${s.rps.toFixed(0)} | ${s.appUs.toFixed(0)} | ${s.nginxUs.toFixed(0)} | ${show(ratio(s.name, 'perl', 'rps'))} | ${show(ratio(s.name, 'perl', 'appUs'))} | ${show(ratio(s.name, 'php-fpm', 'rps'))} | ${s.failed} | ${s.nginxErrors} |`,
    );
  }
  if (opts.profile) await profile(opts, dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

// ---- Profile: one worker of the worker path under --cpu-prof ------------------------------------

async function profile(opts, dir) {
  const profDir = path.join(dir, 'prof');
  fs.mkdirSync(profDir);
  let managerPid;
  const backend = {
    name: 'profile',
    keep: true,
    run: (s) => {
      const child = start(process.execPath, [`--cpu-prof`, `--cpu-prof-dir=${profDir}`, __filename, '--serve', 'worker-path', s, '1'], { cwd: dir });
      managerPid = child.pid;
      return child;
    },
  };
  const r = await measureOne(backend, { ...opts, workers: 1 }, dir);
  console.log(`\n# profile: one worker, nginx keep_conn: ${r.rps.toFixed(0)} req/s, ${r.appUs.toFixed(0)} µs CPU/request`);
  // The manager writes a profile too (CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile); the worker
  // may finish writing its own after the manager has exited.
  const workerProfile = () => fs.readdirSync(profDir).find((f) => f.split('.')[3] !== String(managerPid));
  for (let i = 0; i < 100 && !workerProfile(); i++) await sleep(100);
  await sleep(500);
  const file = workerProfile();
  if (!file) return console.log('the worker wrote no profile');
  const worker = selfTimes(JSON.parse(fs.readFileSync(path.join(profDir, file), 'utf8')));
  const share = (t) => ((100 * t) / worker.busy).toFixed(1);
  const perRequest = (t) => ((r.appUs * t) / worker.busy).toFixed(1);
  console.log('| where | self % of busy time | ≈ µs per request |');
  console.log('|---|---:|---:|');
  for (const [category, t] of [...worker.byCategory].sort((a, b) => b[1] - a[1])) {
    console.log(`| ${category} | ${share(t)} | ${perRequest(t)} |`);
  }
  console.log('\n| self % of busy time | function |');
  console.log('|---:|---|');
  const top = [...worker.byFunction].filter(([fn]) => fn !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 25);
  for (const [fn, t] of top) console.log(`| ${share(t)} | ${fn} |`);
}

/** Which part of the stack a profiled function belongs to. */
function categoryOf(callFrame) {
  const { url, functionName } = callFrame;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (['writeBuffer', 'writev', 'writeUtf8String', 'writeLatin1String', 'close', 'shutdown'].includes(functionName) && !url) {
    return 'system calls: socket writes and closes';
  }
  if (/modules\/|bootstrap|pre_execution/.test(url) || ['compileForInternalLoader', 'wrapSafe'].includes(functionName)) {
    return 'start-up: loading modules (once)';
  }
  if (/stream_base_commons|node:net$/.test(url)) return 'node:net sockets (reads, write requests)';
  if (functionName.startsWith('RegExp:')) return "regular expressions (mostly node:http's header checks)";
  if (url.includes('/dist/fastcgi/')) return 'worker path: records, params, request objects (dist/fastcgi)';
  if (url.includes('node-fastcgi')) return "node-fastcgi's Response class";
  if (url.startsWith('node:_http')) return 'node:http IncomingMessage and ServerResponse';
  if (url.includes('internal/streams')) return 'node streams (Readable, Writable, Duplex)';
  if (/node:events|task_queues|timers|async_hooks|perf\/performance|fixed_queue/.test(url) || ['runMicrotasks', 'getLibuvNow', 'now'].includes(functionName)) {
    return 'events, ticks, timers';
  }
  if (/buffer/.test(url) || /Slice$|Write$|^copy$|^compare$|byteLength/.test(functionName)) return 'buffers and strings';
  if (url.includes('/dist/') || url.includes('measure-worker-path')) return 'ProcManager bookkeeping and the hello app';
  if (/internal\/errors|validators|internal\/util/.test(url)) return "node's argument checks";
  if (functionName === '(program)') return 'V8 and libuv outside JS ("(program)")';
  return 'other';
}

/** Self time per function in a .cpuprofile, and the time not idle. */
function selfTimes(prof) {
  const byNode = new Map();
  for (let i = 0; i < prof.samples.length; i++) byNode.set(prof.samples[i], (byNode.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
  const byFunction = new Map();
  const byCategory = new Map();
  let busy = 0;
  for (const node of prof.nodes) {
    const t = byNode.get(node.id) ?? 0;
    const cf = node.callFrame;
    const where = cf.url ? `${path.relative(ROOT, cf.url.replace(/^file:\/\//, ''))}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + t);
    if (key === '(idle)') continue;
    busy += t;
    const category = categoryOf(cf);
    byCategory.set(category, (byCategory.get(category) ?? 0) + t);
  }
  return { byFunction, byCategory, busy };
}

if (process.argv[2] !== '--serve') {
  main().catch((err) => {
    console.error(err.stack);
    process.exit(1);
  });
}
