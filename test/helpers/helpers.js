'use strict';
// Shared test tools: start real manager processes, read their log lines, and talk FastCGI to them
// with cgi-fcgi (Debian's libfcgi-bin). Every process a test starts is killed when the test file ends.

const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { after } = require('node:test');

const ROOT = path.resolve(__dirname, '..', '..');
const HELLO = path.join(ROOT, 'examples', 'hello.js');

const started = new Set();
after(() => {
  for (const child of started) {
    try {
      process.kill(-child.pid, 'SIGKILL'); // its whole process group: manager and workers
    } catch {
      // already gone
    }
  }
});

/** A fresh temporary directory for one test. */
function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fcgi-pm-test-'));
}

/**
 * Starts `node script` (default: the main example), or `command args`, in its own process group (as `uid`/`gid`
 * if given), and collects its stderr lines. `lines` grows as the process logs; `waitFor(regex)` resolves with the first matching line,
 * `waitForNext(regex)` with the first one logged after the call.
 */
function startNode({ script = HELLO, command, args = [], env = {}, stdio, cwd = ROOT, uid, gid } = {}) {
  const child = spawn(command ?? process.execPath, command ? args : [script, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: stdio ?? ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(uid === undefined ? {} : { uid, gid }),
  });
  started.add(child);
  const proc = {
    child,
    pid: child.pid,
    lines: [],
    /** When each line arrived (ms since the epoch), index for index with `lines`. */
    times: [],
    stdout: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() }))),
    waiters: [],
    waitFor(regex, timeoutMs = 10_000) {
      const found = proc.lines.find((line) => regex.test(line));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${regex}; log so far:\n${proc.lines.join('\n')}`)),
          timeoutMs,
        );
        proc.waiters.push({ regex, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      });
    },
    /** Like waitFor, but only a line logged from now on counts. */
    waitForNext(regex, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for a new line ${regex}; log so far:\n${proc.lines.join('\n')}`)),
          timeoutMs,
        );
        proc.waiters.push({ regex, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      });
    },
    count(regex) {
      return proc.lines.filter((line) => regex.test(line)).length;
    },
    kill(signal) {
      process.kill(child.pid, signal);
    },
  };
  let partial = '';
  child.stderr?.on('data', (chunk) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop();
    for (const line of parts) {
      proc.lines.push(line);
      proc.times.push(Date.now());
      if (process.env.TEST_VERBOSE) console.error(`[${child.pid}] ${line}`);
      proc.waiters = proc.waiters.filter((w) => (w.regex.test(line) ? (w.resolve(line), false) : true));
    }
  });
  child.stdout?.on('data', (chunk) => (proc.stdout += chunk));
  return proc;
}

/**
 * Starts the main example on a fresh unix socket (or the given FCGI_LISTEN) and waits until every
 * worker accepts. Returns the process with `address` (what cgi-fcgi -connect takes).
 */
async function startHello({ env = {}, n = 2, waitReady = true, ...options } = {}) {
  const address = env.FCGI_LISTEN ?? path.join(tempDir(), 'fcgi.sock');
  const proc = startNode({ ...options, env: { PM_N_PROCESSES: String(n), ...env, FCGI_LISTEN: address } });
  proc.address = address;
  if (waitReady) await proc.waitFor(/ready: \d+ servers? accepting/);
  return proc;
}

/** The worker pids a manager's log says are running now. */
function livePids(proc) {
  const pids = new Set();
  for (const line of proc.lines) {
    let m = /server \(pid (\d+)\) started/.exec(line);
    if (m) pids.add(Number(m[1]));
    m = /server \(pid (\d+)\) exited/.exec(line);
    if (m) pids.delete(Number(m[1]));
  }
  return [...pids];
}

/**
 * Waits until none of the workers in `before` is left, `n` workers run, and each of them has logged
 * `initialized` (so it handles TERM gracefully). Resolves with the new pids.
 */
async function waitForReplacement(proc, before, n, timeoutMs = 10_000) {
  const replaced = await eventually(() => livePids(proc).length === n && before.every((pid) => !livePids(proc).includes(pid)), timeoutMs);
  if (!replaced) throw new Error(`workers ${before} were not replaced; log:\n${proc.lines.join('\n')}`);
  const fresh = livePids(proc);
  for (const pid of fresh) await proc.waitFor(new RegExp(`server \\(pid ${pid}\\): initialized`), timeoutMs);
  return fresh;
}

/**
 * One FastCGI request with cgi-fcgi: `params` adds or replaces FastCGI params, `body` is sent as
 * FCGI_STDIN, `uid`/`gid` run cgi-fcgi as that user. Resolves with { ok, status, head, body, stdout,
 * stderr, code }; `ok` is true for a complete "Status: 200" answer and cgi-fcgi exiting 0.
 *
 * (cgi-fcgi sends its empty FCGI_STDIN record after it has read the answer. node-fastcgi as it is
 * resets the connection before that, and cgi-fcgi exits 32, EPIPE; the worker path reads on after its
 * FIN: see docs/worker-path.md.)
 */
function fcgiRequest(address, { query = '', method = 'GET', timeoutMs = 20_000, params = {}, body, uid, gid } = {}) {
  return new Promise((resolve) => {
    const client = spawn('cgi-fcgi', ['-bind', '-connect', address], {
      env: { REQUEST_METHOD: method, QUERY_STRING: query, SCRIPT_NAME: '/', REQUEST_URI: `/?${query}`, SERVER_PROTOCOL: 'HTTP/1.1', ...params },
      stdio: [body === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(uid === undefined ? {} : { uid, gid }),
    });
    if (body !== undefined) client.stdin.end(body);
    let stdout = '';
    let stderr = '';
    client.stdout.on('data', (d) => (stdout += d));
    client.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => client.kill('SIGKILL'), timeoutMs);
    client.on('close', (code) => {
      clearTimeout(timer);
      const [head, ...rest] = stdout.split(/\r?\n\r?\n/);
      const status = /^Status: (\d+)/m.exec(head ?? '')?.[1];
      const body = rest.join('\n\n');
      resolve({ ok: code === 0 && status === '200' && body !== '', status: status && Number(status), head, body, stdout, stderr, code });
    });
  });
}

/**
 * `loops` concurrent cgi-fcgi loops (each request `query`) until `stop()` is called, each bounded to
 * `maxEach` requests and `maxMs`. `results` grows as answers come; `finished` resolves once every loop
 * has run its course.
 */
function requestLoops(address, { loops = 3, maxEach = 400, maxMs = 30_000, query = '' } = {}) {
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const results = [];
  const running = Array.from({ length: loops }, async () => {
    for (let i = 0; i < maxEach && !stopped && Date.now() < deadline; i++) results.push(await fcgiRequest(address, { query }));
  });
  return {
    results,
    finished: Promise.all(running).then(() => results),
    async stop() {
      stopped = true;
      await Promise.all(running);
      return results;
    },
  };
}

/** GET `urlPath` from 127.0.0.1:`port` on a new connection: { status, body, type }, status 0 on an error. */
function httpGet(target, urlPath = '/', timeoutMs = 20_000) {
  return new Promise((resolve) => {
    // A port on loopback, or a unix socket's path.
    const where = typeof target === 'string' ? { socketPath: target } : { host: '127.0.0.1', port: target };
    const req = http.get({ ...where, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, type: res.headers['content-type'], headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
  });
}

/** The pid in a hello.js answer. */
function pidOf(response) {
  const m = /pid=(\d+)/.exec(response.body);
  return m ? Number(m[1]) : undefined;
}

/** True while `pid` is a live process (a zombie waiting to be reaped does not count). */
function isAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Polls `predicate` every 50 ms until it is true or `timeoutMs` passes; resolves with its last value. */
async function eventually(predicate, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value || Date.now() > deadline) return value;
    await sleep(50);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for peers that cannot take port 0). */
function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * The processes whose parent is `parent`, from /proc: { pid, state, comm } (zombies not yet reaped
 * count: they are still processes).
 */
function childrenOf(parent) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(after[1]) === parent) out.push({ pid: Number(name), state: after[0], comm });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * The `skip` option of a test that needs a peer (nginx, spawn-fcgi, Perl's start_server ...): false
 * when it is there, else the reason. Where the peers are installed on purpose (.ci/run sets
 * FCGI_PM_REQUIRE_PEERS=1), a missing one fails the test file instead of skipping its tests.
 */
function skipWithout(available, reason) {
  if (available) return false;
  if (process.env.FCGI_PM_REQUIRE_PEERS === '1') throw new Error(`${reason}; FCGI_PM_REQUIRE_PEERS=1 requires it`);
  return reason;
}

/** True if posix-node's native binary loads here (the library falls back without it). */
const POSIX_NODE_LOADS =
  spawnSync(process.execPath, ['-e', "require('posix-node').getsockopt"], { cwd: ROOT, stdio: 'ignore' }).status === 0;

/**
 * The two ways the library runs: with posix-node, and without it (FCGI_PM_NO_POSIX=1, its fallbacks).
 * The first is skipped where posix-node does not load, which would test the fallback twice, and fails
 * under FCGI_PM_REQUIRE_PEERS=1.
 */
function posixVariants() {
  return [
    { name: 'with posix-node', env: {}, skip: skipWithout(POSIX_NODE_LOADS, 'posix-node does not load here') },
    { name: 'without posix-node', env: { FCGI_PM_NO_POSIX: '1' }, skip: false },
  ];
}

/** True if a command is on PATH. */
/** True if `file args` runs and exits 0 (an account exists, a Python module imports). */
function succeeds(file, args = []) {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function have(command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A process's resident memory now and at its peak (VmHWM), in MiB, from /proc/PID/status. */
function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const mib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)[1]) / 1024;
  return { rss: mib('VmRSS'), peak: mib('VmHWM') };
}

/** Starts a process's peak RSS afresh (Linux: 5 written to clear_refs). */
function resetPeakMemory(pid) {
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

module.exports = {
  memoryOf,
  resetPeakMemory,
  ROOT,
  HELLO,
  tempDir,
  startNode,
  startHello,
  livePids,
  waitForReplacement,
  fcgiRequest,
  requestLoops,
  httpGet,
  pidOf,
  isAlive,
  childrenOf,
  eventually,
  sleep,
  have,
  succeeds,
  skipWithout,
  posixVariants,
  freePort,
};
