'use strict';
// status_path and ping_path: PHP-FPM's status page (text, json, xml, openmetrics; &full) and ping,
// answered inside the worker before the app sees the request, with figures from the manager's
// scoreboard; the listen queue of a unix socket. Pure parts first.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { tempDir, startHello, livePids, fcgiRequest, eventually, skipWithout, have, freePort, httpGet } = require('../helpers/helpers');

const { parseStatusQuery, renderStatus } = require('../../dist/status/formats');
const { collectSnapshot, requestSpread } = require('../../dist/status/collect');
const { parseSsOutput, parseProcNetTcp, readListenQueue } = require('../../dist/socket/listen-queue');
const { openManagerSocket, resolveListenAddress } = require('../../dist/socket/listen');
const { validateParams, checkParamCombinations } = require('../../dist/params');

/** PHP-FPM 8.2's keys, as its ?json writes them. */
const PHP_FPM_POOL_KEYS = ['pool', 'process manager', 'start time', 'start since', 'accepted conn', 'listen queue', 'max listen queue', 'listen queue len', 'idle processes', 'active processes', 'total processes', 'max active processes', 'max children reached', 'slow requests'];
const PHP_FPM_PROCESS_KEYS = ['pid', 'state', 'start time', 'start since', 'requests', 'request duration', 'request method', 'request uri', 'content length', 'user', 'script', 'last request cpu', 'last request memory'];
const OUR_POOL_KEYS = ['max children', 'requests in flight', 'generation', 'reloads', 'recycles', 'handed over connections', 'watchdog kills', 'quick exits', 'respawn delay', 'request spread'];

const PYTHON = '/usr/bin/python3';
const hasPrometheusParser = fs.existsSync(PYTHON) && (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import prometheus_client.openmetrics.parser'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

// ---- Pure parts -------------------------------------------------------------------------------

function handle(extra) {
  const h = { pid: 10, slot: 0, generation: 1, state: 'accepting', forkedAt: 1_000_000, inFlight: 0, served: 0, oldestRequestStartedAt: null, rss: 0, slowRequests: 0, lastRequest: null, ...extra };
  // As WorkerHandle's getter: it accepts and is not on its way out.
  return { ...h, serving: h.state === 'accepting' && !h.retired && !h.drained };
}

const board = (handles, extra = {}) => ({ startedAt: 1_000_000, workers: 3, processManager: 'static', maxChildren: 3, maxChildrenReached: 0, generation: 2, reloads: 1, recycles: 4, handedOverConnections: 2, watchdogKills: 1, servedByExited: 100, maxActive: 1, quickExits: 0, respawnDelayMs: 0, handles, ...extra });

test('status: the snapshot counts accepted connections, idle and active workers, and ours', () => {
  const s = collectSnapshot(
    board([handle({ pid: 11, slot: 1, served: 5, inFlight: 2, oldestRequestStartedAt: 1_004_000 }), handle({ pid: 10, served: 7 }), handle({ pid: 12, slot: 2, state: 'starting' })]),
    { pool: 'www', processManager: 'static', now: 1_010_000, listenQueue: { queued: 3, backlog: 128 }, configuredBacklog: 511, maxListenQueue: 1 },
  );
  assert.equal(s.acceptedConn, 100 + 5 + 2 + 7, 'served by exited workers, served and in flight by live ones');
  assert.deepEqual([s.idleProcesses, s.activeProcesses, s.totalProcesses, s.maxActiveProcesses], [1, 1, 3, 1]);
  assert.deepEqual([s.listenQueue, s.maxListenQueue, s.listenQueueLen], [3, 3, 128]);
  assert.deepEqual(s.processes.map((p) => [p.pid, p.state]), [[10, 'Idle'], [11, 'Running'], [12, 'Starting']], 'in slot order');
  assert.equal(s.processes[1].requestDuration, 6_000_000, 'µs of the oldest request in flight');
  assert.deepEqual([s.maxChildren, s.requestsInFlight, s.generation, s.reloads, s.recycles, s.watchdogKills, s.startSince], [3, 2, 2, 1, 4, 1, 10]);
  const unknown = collectSnapshot(board([]), { pool: 'www', processManager: 'static', now: 1_000_000, listenQueue: undefined, configuredBacklog: 511, maxListenQueue: 0 });
  assert.deepEqual([unknown.listenQueue, unknown.listenQueueLen], [undefined, 511]);
});

test("status: the request spread is the busiest worker's rate over the least busy one's, once two have accepted for 5 s", () => {
  assert.equal(requestSpread([{ requests: 300, acceptingMs: 10_000 }, { requests: 100, acceptingMs: 10_000 }]), 3);
  assert.equal(requestSpread([{ requests: 200, acceptingMs: 20_000 }, { requests: 100, acceptingMs: 10_000 }]), 1, 'per second accepting: a younger worker is not less busy');
  assert.equal(requestSpread([{ requests: 50, acceptingMs: 10_000 }, { requests: 0, acceptingMs: 10_000 }]), 50, 'one that served none counts as one');
  assert.equal(requestSpread([{ requests: 0, acceptingMs: 10_000 }, { requests: 0, acceptingMs: 10_000 }]), null, 'nothing served yet');
  assert.equal(requestSpread([{ requests: 300, acceptingMs: 10_000 }, { requests: 1, acceptingMs: 4_999 }]), null, 'too young to compare');
  assert.equal(requestSpread([{ requests: 300, acceptingMs: 10_000 }]), null);
  const s = collectSnapshot(
    board([handle({ pid: 10, served: 90, inFlight: 10, acceptingAt: 1_000_000 }), handle({ pid: 11, slot: 1, served: 40, acceptingAt: 1_000_000 }), handle({ pid: 12, slot: 2, served: 1, acceptingAt: 1_000_000, retired: true }), handle({ pid: 13, slot: 3, served: 1, acceptingAt: 1_000_000, drained: true })]),
    { pool: 'www', processManager: 'static', now: 1_010_000, listenQueue: undefined, configuredBacklog: 511, maxListenQueue: 0 },
  );
  assert.equal(s.requestSpread, 2.5, 'a retiring or drained worker is left out');
  // Known: a number everywhere; not yet known: null in JSON, `-` in text and XML, and no metric at all.
  assert.equal(JSON.parse(renderStatus(s, { format: 'json', full: false }))['request spread'], 2.5);
  assert.match(renderStatus(s, { format: 'openmetrics', full: false }), /^fcgi_pm_request_spread\{pool="www"\} 2\.5$/m);
  const unknown = { ...s, requestSpread: null };
  assert.equal(JSON.parse(renderStatus(unknown, { format: 'json', full: false }))['request spread'], null);
  assert.match(renderStatus(unknown, { format: 'text', full: false }), /^request spread: +-$/m);
  assert.match(renderStatus(unknown, { format: 'xml', full: false }), /<request-spread>-<\/request-spread>/);
  assert.doesNotMatch(renderStatus(unknown, { format: 'openmetrics', full: false }), /request_spread/);
});

test('status: the query picks the format; every PHP-FPM key is in text, json and xml, with &full the workers', () => {
  assert.deepEqual(parseStatusQuery('json&full'), { format: 'json', full: true });
  assert.deepEqual(parseStatusQuery('full&xml'), { format: 'xml', full: true });
  assert.deepEqual(parseStatusQuery(''), { format: 'text', full: false });
  assert.deepEqual(parseStatusQuery('openmetrics'), { format: 'openmetrics', full: false });
  const s = collectSnapshot(board([handle({ lastRequest: { method: 'GET', uri: '/x?<&>', contentLength: 0, script: '-', user: '-' } })]), {
    pool: 'www', processManager: 'static', now: 1_000_000, listenQueue: { queued: 0, backlog: 511 }, configuredBacklog: 511, maxListenQueue: 0,
  });
  const json = JSON.parse(renderStatus(s, { format: 'json', full: true }));
  for (const key of [...PHP_FPM_POOL_KEYS, ...OUR_POOL_KEYS]) assert.ok(key in json, `json: ${key}`);
  for (const key of PHP_FPM_PROCESS_KEYS) assert.ok(key in json.processes[0], `json process: ${key}`);
  const text = renderStatus(s, { format: 'text', full: true });
  for (const key of [...PHP_FPM_POOL_KEYS, ...PHP_FPM_PROCESS_KEYS]) assert.match(text, new RegExp(`^${key}: +\\S`, 'm'), `text: ${key}`);
  assert.match(text, /^start time: +\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$/m);
  const xml = renderStatus(s, { format: 'xml', full: true });
  for (const key of [...PHP_FPM_POOL_KEYS, ...PHP_FPM_PROCESS_KEYS]) assert.match(xml, new RegExp(`<${key.replace(/ /g, '-')}>`), `xml: ${key}`);
  assert.match(xml, /<request-uri>\/x\?&#60;&#38;&#62;<\/request-uri>/, 'escaped');
  assert.doesNotMatch(renderStatus(s, { format: 'text', full: false }), /^pid:/m, 'the workers only with full');
});

test('listen queue: parsed from ss (unix and TCP) and /proc/net/tcp', () => {
  const ss = 'u_str LISTEN 0      511      /tmp/a.sock 4242 * 0\nu_str LISTEN 3      128      /tmp/b.sock 4243 * 0\ntcp   LISTEN 2      511      127.0.0.1:9000 0.0.0.0:* ino:777 sk:1 <->\n';
  assert.deepEqual(parseSsOutput(ss, 4243), { queued: 3, backlog: 128 });
  assert.deepEqual(parseSsOutput(ss, 777), { queued: 2, backlog: 511 });
  assert.equal(parseSsOutput(ss, 1), undefined);
  const tcp = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:2328 00000000:0000 0A 00000000:00000005 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n';
  assert.deepEqual(parseProcNetTcp(tcp, 777), { queued: 5, backlog: undefined });
});

test('status parameters: validated', () => {
  assert.deepEqual(validateParams({ status_path: '/status', ping_path: '/ping', ping_response: 'ok' }), { status_path: '/status', ping_path: '/ping', ping_response: 'ok' });
  assert.throws(() => validateParams({ status_path: 'status' }), /status_path must be a path such as '\/status'/);
  assert.throws(() => validateParams({ ping_path: '/ping?x' }), /ping_path must be a path/);
  assert.throws(() => validateParams({ ping_response: '' }), /ping_response must be a non-empty string/);
  assert.throws(() => checkParamCombinations({ status_path: '/s', ping_path: '/s' }), /status_path and ping_path must differ/);
});

// ---- Real processes ---------------------------------------------------------------------------

/** A request for `scriptName` (?query) with cgi-fcgi. */
const fcgi = (address, scriptName, query = '') =>
  fcgiRequest(address, { query, params: { SCRIPT_NAME: scriptName, REQUEST_URI: query ? `${scriptName}?${query}` : scriptName } });

test('status_path and ping_path: answered in the worker, the app never sees them; PHP-FPM\'s keys and headers; counts match the real workers', async () => {
  const pm = await startHello({ n: 2, env: { PM_STATUS_PATH: '/status', PM_PING_PATH: '/ping', PM_PING_RESPONSE: 'pong', PM_LOG_REQUESTS: '1' } });
  const ping = await fcgi(pm.address, '/ping');
  assert.equal(ping.status, 200);
  assert.equal(ping.body, 'pong');
  assert.match(ping.head, /^Expires: Thu, 01 Jan 1970 00:00:00 GMT$/m);
  assert.match(ping.head, /^Cache-Control: no-cache, no-store, must-revalidate, max-age=0$/m);

  const first = JSON.parse((await fcgi(pm.address, '/status', 'json&full')).body);
  for (let i = 0; i < 7; i++) assert.ok((await fcgiRequest(pm.address)).ok);
  const json = await fcgi(pm.address, '/status', 'json&full');
  assert.match(json.head, /^Content-Type: application\/json$/m);
  const second = JSON.parse(json.body);
  assert.equal(second['accepted conn'] - first['accepted conn'], 8, '7 requests and this status request');
  for (const key of PHP_FPM_POOL_KEYS) assert.ok(key in second, key);
  assert.equal(second.pool, 'node-fcgi-pm');
  assert.equal(second['process manager'], 'static');
  assert.equal(second['total processes'], 2);
  assert.equal(second['max children'], 2);
  assert.deepEqual(second.processes.map((p) => p.pid).sort(), livePids(pm).sort(), '?full lists the real workers');
  assert.equal(second['listen queue len'], 511);
  assert.equal(second['listen queue'], 0);
  assert.ok(second.processes.some((p) => p.state === 'Running' && p['request uri'] === '/status?json&full'), 'the worker answering is running this request');

  const text = await fcgi(pm.address, '/status');
  assert.match(text.head, /^Content-Type: text\/plain$/m);
  for (const key of PHP_FPM_POOL_KEYS) assert.match(text.body, new RegExp(`^${key}:`, 'm'));
  const xml = await fcgi(pm.address, '/status', 'xml');
  assert.match(xml.body, /^<\?xml version="1\.0" \?>\n<status>\n<pool>node-fcgi-pm<\/pool>/);
  assert.equal(pm.count(/request started: \/(status|ping)/), 0, 'the app saw neither');
  assert.ok(pm.count(/request started: \//) >= 7, 'it saw its own requests');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('?openmetrics parses with the Prometheus client\'s OpenMetrics parser', { skip: skipWithout(hasPrometheusParser, 'python3-prometheus-client is not installed') }, async () => {
  const pm = await startHello({ n: 2, env: { PM_STATUS_PATH: '/status' } });
  for (let i = 0; i < 3; i++) assert.ok((await fcgiRequest(pm.address)).ok);
  const metrics = await fcgi(pm.address, '/status', 'openmetrics');
  assert.match(metrics.head, /^Content-Type: application\/openmetrics-text; version=1\.0\.0; charset=utf-8$/m);
  const parsed = JSON.parse(execFileSync(PYTHON, ['-c', `
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        out[sample.name] = {"type": family.type, "value": sample.value, "labels": sample.labels}
print(json.dumps(out))
`], { input: metrics.body, encoding: 'utf8' }));
  assert.equal(parsed.fcgi_pm_accepted_connections_total.type, 'counter');
  assert.equal(parsed.fcgi_pm_accepted_connections_total.value, 4, '3 requests and this one');
  assert.deepEqual(parsed.fcgi_pm_accepted_connections_total.labels, { pool: 'node-fcgi-pm' });
  assert.equal(parsed.fcgi_pm_total_processes.value, 2);
  assert.equal(parsed.fcgi_pm_up.value, 1);
  assert.equal(parsed.fcgi_pm_listen_queue_length.value, 511);
  pm.kill('SIGTERM');
  await pm.exited;
});

test('listen queue: the connections waiting on a unix socket that nobody accepts are counted', { skip: skipWithout(have('ss'), 'ss (iproute2) is not installed') }, async () => {
  const file = path.join(tempDir(), 'q.sock');
  // The manager's own kind of socket: bound and listening, never accepted on.
  const socket = await openManagerSocket(resolveListenAddress(file));
  assert.deepEqual(await readListenQueue(socket.fd), { queued: 0, backlog: 511 });
  const clients = await Promise.all([1, 2, 3].map(() => new Promise((resolve) => { const c = net.connect(file, () => resolve(c)); })));
  assert.ok(await eventually(async () => (await readListenQueue(socket.fd))?.queued === 3, 5_000), 'three connections wait');
  for (const c of clients) c.destroy();
  fs.closeSync(socket.fd);
});

// ---- status_listen: the manager's own HTTP listener -------------------------------------------


test('status_listen on a unix socket: the manager answers while the only worker is blocked, and counts the connections waiting in the FastCGI socket\'s backlog', { skip: skipWithout(have('ss'), 'ss (iproute2) is not installed') }, async () => {
  const dir = tempDir();
  const statusSocket = path.join(dir, 'status.sock');
  const pm = await startHello({ n: 1, env: { PM_STATUS_LISTEN: statusSocket, PM_PING_PATH: '/ping', PM_LOG_REQUESTS: '1' } });
  await pm.waitFor(new RegExp(`status and ping over HTTP on unix:${statusSocket.replace(/[.]/g, '\\.')} \\(status_listen\\)`));
  const idle = JSON.parse((await httpGet(statusSocket, '/status?json&full')).body);
  assert.equal(idle['total processes'], 1);
  assert.equal(idle['listen queue'], 0);

  const busy = fcgiRequest(pm.address, { query: 'busy=6', timeoutMs: 30_000 });
  await pm.waitFor(/request started: \/\?busy=6/);
  // Three connections that the blocked worker cannot accept.
  const waiting = await Promise.all([1, 2, 3].map(() => new Promise((resolve) => { const c = net.connect(pm.address, () => resolve(c)); })));
  const started = Date.now();
  const ping = await httpGet(statusSocket, '/ping');
  assert.equal(ping.status, 200);
  assert.equal(ping.body, 'pong');
  const during = await httpGet(statusSocket, '/status?json&full');
  assert.ok(Date.now() - started < 5_000, 'answered while the worker is still blocked');
  assert.equal(during.status, 200);
  const s = JSON.parse(during.body);
  // The worker blocked in its request cannot report; it said it was busy as the request began.
  assert.equal(s['active processes'], 1, JSON.stringify(s));
  assert.equal(s.processes[0].state, 'Running');
  assert.equal(s.processes[0]['request uri'], '/?busy=6');
  assert.ok(s['listen queue'] >= 3, `listen queue ${s['listen queue']}`);
  assert.ok(s['max listen queue'] >= 3);
  assert.equal(s['listen queue len'], 511);
  assert.equal((await httpGet(statusSocket, '/nothing')).status, 404);
  for (const c of waiting) c.destroy();
  assert.ok((await busy).ok, 'the blocked request completes');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
  assert.ok(!fs.existsSync(statusSocket), 'its socket file is removed at exit');
});

test('status_listen without status_path: the figures are fresh (every worker reports when asked)', async () => {
  const statusSocket = path.join(tempDir(), 'status.sock');
  const pm = await startHello({ n: 2, env: { PM_STATUS_LISTEN: statusSocket } });
  await pm.waitFor(/\(status_listen\)/);
  for (let i = 0; i < 5; i++) assert.ok((await fcgiRequest(pm.address)).ok);
  const status = JSON.parse((await httpGet(statusSocket, '/status?json&full')).body);
  assert.equal(status['accepted conn'], 5, JSON.stringify(status));
  assert.equal(status.processes.reduce((sum, p) => sum + p.requests, 0), 5);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('status_listen refuses an address that is not loopback unless status_listen_public is set', async () => {
  const port = await freePort();
  const pm = await startHello({ n: 2, waitReady: false, env: { PM_STATUS_LISTEN: `0.0.0.0:${port}` } });
  const { code } = await pm.exited;
  assert.equal(code, 2);
  assert.equal(pm.lines.length, 1, pm.lines.join('\n'));
  assert.match(pm.lines[0], /status_listen 0\.0\.0\.0:\d+ is not a loopback address, and \?full shows every request's URI: use 127\.0\.0\.1:PORT or a unix path, or set status_listen_public/);
  assert.throws(() => checkParamCombinations({ status_listen: '[::]:9100' }), /not a loopback address/);
  assert.doesNotThrow(() => checkParamCombinations({ status_listen: '0.0.0.0:9100', status_listen_public: true }));
  assert.doesNotThrow(() => checkParamCombinations({ status_listen: 'localhost:9100' }));
});

const CHROMIUM = ['chromium', 'chromium-browser'].find(have);

test('status_listen ?html renders in headless Chromium with the figures and every worker\'s pid', { skip: skipWithout(CHROMIUM, 'chromium is not installed') }, async () => {
  const port = await freePort();
  const pm = await startHello({ n: 2, env: { PM_STATUS_LISTEN: `127.0.0.1:${port}` } });
  for (let i = 0; i < 3; i++) assert.ok((await fcgiRequest(pm.address)).ok);
  const profile = tempDir();
  const dom = execFileSync(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${profile}`,
    '--virtual-time-budget=3000', '--dump-dom', `http://127.0.0.1:${port}/status?html`,
  ], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'] });
  assert.match(dom, /<span id="name">node-fcgi-pm<\/span>/);
  assert.match(dom, /<td>accepted conn<\/td><td>\d+<\/td>/);
  assert.match(dom, /<td>total processes<\/td><td>2<\/td>/);
  assert.match(dom, /<td>start time<\/td><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/td>/, 'the start time as a date');
  assert.match(dom, /<td>start since<\/td><td>\d+ s<\/td>/);
  assert.match(dom, /<tr class="worker">(<td>[^<]*<\/td>){10}<td>\d+\.\d MiB<\/td>/, 'rss in MiB');
  const rows = [...dom.matchAll(/<tr class="worker"><td>(\d+)<\/td>/g)].map((m) => Number(m[1])).sort();
  assert.deepEqual(rows, livePids(pm).sort(), 'one row per worker, with its pid');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});
