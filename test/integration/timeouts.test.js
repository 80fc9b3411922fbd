'use strict';
// Stuck requests and blocked workers: request_terminate_timeout (503, the app told, the slot freed),
// worker_timeout (a heartbeat watchdog that KILLs a blocked worker, but not when the manager itself
// was suspended), and the slow log with the blocked worker's JavaScript stack. Pure parts first.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, startNode, livePids, fcgiRequest, pidOf, isAlive, eventually, sleep } = require('../helpers/helpers');

const { RequestDeadlines, sweepIntervalMs } = require('../../dist/worker/request-deadlines');
const { heartbeatIntervalMs, managerWasSuspended, silentWorkers } = require('../../dist/pool/watchdog');
const { SlowlogBoard } = require('../../dist/worker/slowlog-board');
const { validateParams, checkParamCombinations } = require('../../dist/params');

const STUCK_APP = path.join(__dirname, '..', 'fixtures', 'stuck-app.js');

// ---- Pure parts -------------------------------------------------------------------------------

test('RequestDeadlines: a request past the timeout is handed over once, oldest first; ended ones never', () => {
  let now = 0;
  const expired = [];
  const d = new RequestDeadlines(1000, (req, res, elapsed) => expired.push([req, elapsed]), () => now);
  const a = {};
  const b = {};
  const c = {};
  d.began('a', a);
  now = 300;
  d.began('b', b);
  now = 600;
  d.began('c', c);
  d.ended(b);
  now = 999;
  d.sweep();
  assert.deepEqual(expired, []);
  now = 1700;
  d.sweep();
  assert.deepEqual(expired, [['a', 1700], ['c', 1100]]);
  d.sweep();
  assert.equal(expired.length, 2, 'each once');
  d.ended(a); // already handed over: nothing happens
  assert.equal(sweepIntervalMs(1000), 100);
  assert.equal(sweepIntervalMs(50), 10);
  assert.equal(sweepIntervalMs(60_000), 1000);
});

test('watchdog: silent workers, the heartbeat period, and a manager that was suspended', () => {
  const workers = [
    { pid: 1, lastHeardAt: 1000, killed: false },
    { pid: 2, lastHeardAt: 2500, killed: false },
    { pid: 3, lastHeardAt: 0, killed: true },
  ];
  assert.deepEqual(silentWorkers(workers, 3100, 2000), [{ pid: 1, silentMs: 2100 }]);
  assert.deepEqual(silentWorkers(workers, 2900, 2000), []);
  assert.equal(heartbeatIntervalMs(1), 250);
  assert.equal(heartbeatIntervalMs(0.1), 50);
  assert.equal(heartbeatIntervalMs(600), 10_000);
  assert.equal(managerWasSuspended(0, 700, 250), false, 'a late timer on a busy machine');
  assert.equal(managerWasSuspended(0, 3000, 250), true, 'SIGSTOP for seconds');
});

test('SlowlogBoard: requests in flight through shared memory, slots reused, overflow counted', () => {
  const board = new SlowlogBoard();
  const reader = new SlowlogBoard(board.buffer); // as the thread sees it
  const a = board.began('GET /a?x=1', 1000);
  const b = board.began('POST /é', 2000);
  assert.deepEqual(reader.inFlight().map(({ text, beganAt }) => [text, beganAt]), [['GET /a?x=1', 1000], ['POST /é', 2000]]);
  board.ended(a);
  assert.deepEqual(reader.inFlight().map((r) => r.text), ['POST /é']);
  const c = board.began('GET /c', 3000);
  assert.equal(c, a, 'the freed slot is reused');
  assert.notEqual(reader.inFlight().find((r) => r.text === 'GET /c').sequence, 1, 'with a new sequence');
  board.tick(42);
  assert.equal(reader.lastTick, 42);
  reader.countSlow();
  assert.equal(board.slowRequests, 1);
  board.ended(b);
  board.ended(c);
  const slots = [];
  for (let i = 0; i < 300; i++) slots.push(board.began(`GET /${i}`, i));
  assert.equal(slots.filter((s) => s === -1).length, 300 - 256, 'past 256 requests in flight, the rest go untracked');
  assert.equal(reader.inFlight().length, 256);
  assert.equal(board.began('x'.repeat(1000), 0), -1);
});

test('timeout parameters: validated, with the combination slowlog needs', () => {
  assert.deepEqual(validateParams({ request_terminate_timeout: '2.5', worker_timeout: 30, request_slowlog_timeout: '0', slowlog: '/tmp/s.log' }), {
    request_terminate_timeout: 2.5,
    worker_timeout: 30,
    request_slowlog_timeout: 0,
    slowlog: '/tmp/s.log',
  });
  assert.throws(() => validateParams({ request_terminate_timeout: -1 }), /request_terminate_timeout must not be negative/);
  assert.throws(() => validateParams({ worker_timeout: 'soon' }), /worker_timeout must be a number/);
  assert.throws(() => validateParams({ timeout: 30 }), /did you mean 'worker_timeout'/);
  assert.throws(() => checkParamCombinations({ slowlog: '/tmp/s.log', request_slowlog_timeout: 0 }), /slowlog needs request_slowlog_timeout/);
});

// ---- Real processes ---------------------------------------------------------------------------

function startStuck(env) {
  const address = path.join(tempDir(), 'fcgi.sock');
  const pm = startNode({ script: STUCK_APP, env: { FCGI_LISTEN: address, ...env } });
  pm.address = address;
  return pm;
}

test('request_terminate_timeout: a request that never answers gets a 503, the app hears aborted and close, the worker and its other requests carry on', async () => {
  const pm = startStuck({ PM_N_PROCESSES: '1', PM_REQUEST_TERMINATE_TIMEOUT: '1', PM_DIE_TIMEOUT: '30' });
  await pm.waitFor(/ready: 1 server accepting/);
  const [worker] = livePids(pm);
  const began = Date.now();
  const hung = fcgiRequest(pm.address, { query: 'hang' });
  await pm.waitFor(/request started hang/);
  const short = await fcgiRequest(pm.address, { query: 'sleep=0.2' });
  assert.ok(short.ok, 'a short request on the same worker is answered');
  assert.equal(pidOf(short), worker);
  const answer = await hung;
  const took = Date.now() - began;
  assert.equal(answer.status, 503, answer.stdout);
  assert.equal(answer.code, 0, 'a whole FastCGI answer');
  assert.match(answer.body, /^Service Unavailable\n$/);
  assert.ok(took >= 900 && took < 10_000, `answered after ${took} ms (timeout 1 s)`);
  assert.match(await pm.waitFor(/execution timed out/), new RegExp(`FastCGI: server \\(pid ${worker}\\): request "GET /\\?hang" execution timed out \\(1\\.\\d{3} s\\), terminating$`));
  await pm.waitFor(/^aborted hang$/);
  await pm.waitFor(/^closed hang$/);
  assert.equal(pm.count(/exited with status/), 0, 'the worker stays');
  assert.equal(pidOf(await fcgiRequest(pm.address)), worker);

  // The slot is free: TERM does not wait for the handler that never ended (die_timeout is 30 s).
  const termAt = Date.now();
  pm.kill('SIGTERM');
  const { code, at } = await pm.exited;
  assert.equal(code, 0);
  assert.ok(at - termAt < 5_000, `exited ${at - termAt} ms after TERM`);
});

test('request_terminate_timeout: a response that had begun has its connection cut, so the part is not taken for the whole', async () => {
  const pm = startStuck({ PM_N_PROCESSES: '1', PM_REQUEST_TERMINATE_TIMEOUT: '0.5' });
  await pm.waitFor(/ready: 1 server accepting/);
  const cut = await fcgiRequest(pm.address, { query: 'begun-hang' });
  assert.notEqual(cut.code, 0, 'cgi-fcgi saw no FCGI_END_REQUEST');
  assert.match(cut.stdout, /the beginning of a body that never ends/);
  await pm.waitFor(/request "GET \/\?begun-hang" execution timed out/);
  await pm.waitFor(/^aborted begun-hang$/);
  assert.ok((await fcgiRequest(pm.address)).ok, 'the worker serves on');
  assert.equal(pm.count(/exited with status/), 0);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('request_terminate_timeout: the app answering later (setHeader, writeHead, end) costs nothing: the worker serves on', async () => {
  const pm = startStuck({ PM_N_PROCESSES: '1', PM_REQUEST_TERMINATE_TIMEOUT: '0.5' });
  await pm.waitFor(/ready: 1 server accepting/);
  const [worker] = livePids(pm);
  // Not begun: 503 at 0.5 s, and the app's reply at 1.5 s.
  const late = await fcgiRequest(pm.address, { query: 'sleep=1.5' });
  assert.equal(late.status, 503, late.stdout);
  await pm.waitFor(/^replied sleep=1\.5$|uncaught exception/);
  // Begun: the connection cut at 0.5 s, and the rest of the answer at 1.5 s.
  const cut = await fcgiRequest(pm.address, { query: 'begun-hang=1.5' });
  assert.notEqual(cut.code, 0, 'cgi-fcgi saw no FCGI_END_REQUEST');
  await pm.waitFor(/^replied begun-hang=1\.5$|uncaught exception/);
  assert.equal(pm.count(/uncaught exception/), 0, pm.lines.join('\n'));
  assert.equal(pidOf(await fcgiRequest(pm.address)), worker, 'the same worker answers');
  assert.equal(pm.count(/exited with status/), 0);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('worker_timeout: a worker blocked in a busy loop is killed within a few periods, logged with its pid, and replaced; the other worker serves on', async () => {
  const pm = startStuck({ PM_N_PROCESSES: '2', PM_WORKER_TIMEOUT: '1' });
  await pm.waitFor(/ready: 2 servers accepting/);
  const before = livePids(pm);
  const blocked = fcgiRequest(pm.address, { query: 'busy=60', timeoutMs: 30_000 });
  const startedLine = await pm.waitFor(/request started busy=60/);
  assert.ok(startedLine);
  const blockedAt = Date.now();
  // Meanwhile the other worker answers.
  let answered = 0;
  const killedLine = pm.waitFor(/timed out: no heartbeat/, 15_000);
  for (let i = 0; i < 200 && !pm.lines.some((l) => /timed out: no heartbeat/.test(l)); i++) {
    const r = await fcgiRequest(pm.address, { timeoutMs: 5_000 });
    if (r.ok) answered++;
  }
  const line = await killedLine;
  const m = /server \(pid (\d+)\) timed out: no heartbeat for (\d+\.\d) s, killing \((\d+) requests? in flight\)$/.exec(line);
  assert.ok(m, line);
  const victim = Number(m[1]);
  assert.ok(before.includes(victim));
  assert.ok(Date.now() - blockedAt < 10_000, 'killed within a few periods');
  assert.ok(Number(m[2]) >= 1, 'silent for longer than worker_timeout');
  assert.ok(answered > 0, 'the other worker answered meanwhile');
  await pm.waitFor(new RegExp(`server \\(pid ${victim}\\) exited with status 9 \\(signal KILL\\)`));
  const r = await blocked;
  assert.notEqual(r.status, 200, 'the blocked request was lost with its worker');
  assert.ok(await eventually(() => livePids(pm).length === 2 && !livePids(pm).includes(victim), 10_000), 'replaced');
  assert.ok(!isAlive(victim));
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('worker_timeout: a manager stopped with SIGSTOP for longer than worker_timeout, then resumed, kills no worker', async () => {
  const pm = startStuck({ PM_N_PROCESSES: '2', PM_WORKER_TIMEOUT: '1' });
  await pm.waitFor(/ready: 2 servers accepting/);
  const before = livePids(pm).sort();
  await sleep(1500); // the watchdog has run a few rounds
  pm.kill('SIGSTOP');
  await sleep(3500);
  pm.kill('SIGCONT');
  await pm.waitFor(/watchdog: this manager did not run for \d+\.\d s \(suspended\?\); not judging the workers by it/, 5_000);
  await sleep(3000); // a dozen rounds after the resume
  assert.equal(pm.count(/timed out: no heartbeat/), 0, pm.lines.join('\n'));
  assert.deepEqual(livePids(pm).sort(), before, 'the same workers');
  for (const pid of before) assert.ok(isAlive(pid));
  assert.ok((await fcgiRequest(pm.address)).ok);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('slow log: a blocked loop gets the stack that names the blocking function; a request waiting on a timer is said to wait', async () => {
  const dir = tempDir();
  const slowlog = path.join(dir, 'slow.log');
  const pm = startStuck({ PM_N_PROCESSES: '1', PM_REQUEST_SLOWLOG_TIMEOUT: '0.5', PM_SLOWLOG: slowlog });
  await pm.waitFor(/ready: 1 server accepting/);
  const [worker] = livePids(pm);
  const read = () => (fs.existsSync(slowlog) ? fs.readFileSync(slowlog, 'utf8') : '');

  assert.ok((await fcgiRequest(pm.address, { query: 'sleep=1.5' })).ok);
  assert.ok(await eventually(() => /sleep=1\.5/.test(read()), 5_000), read());
  const waiting = read();
  assert.match(waiting, new RegExp(`^\\[\\d\\d-[A-Z][a-z]{2}-\\d{4} \\d\\d:\\d\\d:\\d\\d\\] \\[pool node-fcgi-pm\\] pid ${worker}\\n`));
  assert.match(waiting, /request "GET \/\?sleep=1\.5" running for 0\.\d{3} s; the event loop is not blocked: the request is waiting \(for I\/O, a timer or a promise\)\n/);
  assert.doesNotMatch(waiting, /\n {4}at /, 'no stack for a wait');

  const busy = await fcgiRequest(pm.address, { query: 'busy=2' });
  assert.ok(busy.ok, 'the blocked request still completes');
  assert.ok(await eventually(() => /busy=2/.test(read()), 5_000), read());
  const entry = read().slice(waiting.length);
  assert.match(entry, /request "GET \/\?busy=2" running for \d\.\d{3} s; the event loop is blocked, in:\n/);
  assert.match(entry, /\n {4}at blockTheEventLoop \(.*stuck-app\.js:\d+:\d+\)\n/, entry);
  assert.equal(pm.count(/exited with status/), 0);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('bad timeout parameters are refused with one line before anything forks', async () => {
  const cases = [
    [{ PM_REQUEST_TERMINATE_TIMEOUT: '-1' }, /request_terminate_timeout must not be negative, got -1/],
    [{ PM_WORKER_TIMEOUT: 'soon' }, /worker_timeout must be a number, got "soon"/],
    [{ PM_REQUEST_SLOWLOG_TIMEOUT: 'x' }, /request_slowlog_timeout must be a number/],
    [{ PM_SLOWLOG: '/tmp/s.log' }, /slowlog needs request_slowlog_timeout/],
    [{ PM_REQUEST_SLOWLOG_TIMEOUT: '1', PM_SLOWLOG: '/no/such/dir/s.log' }, /slowlog \/no\/such\/dir\/s\.log: ENOENT \(no such file or directory\)/],
  ];
  for (const [env, expected] of cases) {
    const pm = startStuck({ PM_N_PROCESSES: '2', ...env });
    const { code } = await pm.exited;
    assert.equal(code, 2, JSON.stringify(env));
    assert.equal(pm.lines.length, 1, pm.lines.join('\n'));
    assert.match(pm.lines[0], expected);
    assert.ok(!fs.existsSync(pm.address));
  }
});
