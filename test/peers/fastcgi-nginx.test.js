'use strict';
// The worker path behind nginx with `fastcgi_keep_conn on` and an upstream `keepalive` pool: nginx
// reuses its connections to the workers, its error log stays empty, and a stop or a reload with
// kept connections loses nothing and does not wait for nginx to let go of idle connections.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { startNode, livePids, tempDir, eventually, skipWithout } = require('../helpers/helpers');
const { startTestApp } = require('../helpers/fcgi-raw-client');
const { nginxConf } = require('../helpers/webservers');

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
const skip = skipWithout(NGINX, 'nginx is not installed (Debian package nginx-light)');

function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** nginx in front of the unix socket `upstream`, keeping up to 8 idle connections to it. */
async function startNginx(upstream) {
  const prefix = tempDir();
  const port = await freePort();
  // The same nginx front as the other web-server tests: keepalive 8, fastcgi_keep_conn on.
  const conf = nginxConf({ dir: prefix, port, socketPath: upstream });
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
  const nginx = startNode({ command: NGINX, args: ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')] });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const web = {
    nginx,
    get: (urlPath) => get(agent, port, urlPath),
    post: (urlPath, body) => get(agent, port, urlPath, body),
    // Only what nginx reports about the upstream: its own start-up notices are not about us.
    errorLog: () =>
      fs
        .readFileSync(path.join(prefix, 'error.log'), 'utf8')
        .split('\n')
        .filter((line) => line && !/\[notice\]/.test(line) && !/client \d+ closed keepalive connection/.test(line)),
    stop: () => {
      agent.destroy();
      nginx.kill('SIGQUIT');
      return nginx.exited;
    },
  };
  const up = await eventually(() => web.get('/').then((r) => r.status !== 0), 5_000);
  assert.ok(up, 'nginx answers');
  return web;
}

/** A GET, or with `body` a POST (which nginx does not retry on another connection). */
function get(agent, port, urlPath, body) {
  return new Promise((resolve) => {
    const options = { host: '127.0.0.1', port, path: urlPath, agent, timeout: 20_000, method: body === undefined ? 'GET' : 'POST' };
    const req = http.request(options, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.end(body);
  });
}

/**
 * `loops` concurrent request loops, each bounded to `count` requests and `seconds`. The answers are
 * pushed to `results` (given, to watch them come in) as they arrive.
 */
async function load(web, { loops = 4, count = 100, seconds = 15, urlPath = '/', posting = 0, until = () => false, results = [] } = {}) {
  await Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      const deadline = Date.now() + seconds * 1000;
      for (let i = 0; i < count && Date.now() < deadline && !until(); i++) {
        // The first `posting` loops send POSTs with a body, read back by the app.
        results.push(await (loop < posting ? web.post('/?body=1', 'x'.repeat(2000)) : web.get(urlPath)));
      }
    }),
  );
  return results;
}

/** The most connections any answer reports per worker, summed over the workers. */
function connectionsAccepted(results) {
  const byPid = new Map();
  for (const r of results) {
    const m = /pid=(\d+) conns=(\d+)/.exec(r.body);
    if (m) byPid.set(m[1], Math.max(byPid.get(m[1]) ?? 0, Number(m[2])));
  }
  return [...byPid.values()].reduce((a, b) => a + b, 0);
}

/** Which request on its connection each answer was (1: the connection's first), from the test app's `onconn=`. */
const onConnection = (results) => results.map((r) => Number(/ onconn=(\d+)/.exec(r.body)?.[1]));

test('nginx keeps its connections to the worker path: 400 requests over a handful of connections, an empty error log', { skip }, async (t) => {
  const pool = await startTestApp({ mode: 'pool', n: 2 });
  const web = await startNginx(pool.address);
  try {
    const results = await load(web);
    assert.equal(results.length, 400);
    assert.deepEqual(results.filter((r) => r.status !== 200), []);
    const accepted = connectionsAccepted(results);
    assert.ok(accepted >= 1 && accepted <= 16, `at most 16 connections for 400 requests (4 at a time, 8 kept): ${accepted}`);
    // Reuse, answer by answer: at most 16 were the first request on their connection, and every
    // other one came on a connection that had served before.
    const nth = onConnection(results);
    assert.ok(nth.every((n) => n >= 1), 'every answer says which request on its connection it was');
    const firsts = nth.filter((n) => n === 1).length;
    assert.ok(firsts <= 16, `${firsts} answers were the first on their connection`);
    assert.ok(nth.filter((n) => n > 1).length >= 384, 'the rest came on reused connections');
    assert.ok(Math.max(...nth) >= 400 / 16, `a connection served ${Math.max(...nth)} requests at most`);
    t.diagnostic(`worker path: 400 requests over ${accepted} connections, up to ${Math.max(...nth)} on one`);
    assert.deepEqual(web.errorLog(), []);
  } finally {
    await web.stop();
    pool.kill('SIGTERM');
  }

  // node-fastcgi as it is, under the same nginx: a connection per request, and errors in the log.
  const asIs = await startTestApp({ mode: 'pool-as-is', n: 2 });
  const web2 = await startNginx(asIs.address);
  try {
    const results = await load(web2, { count: 25 });
    assert.equal(results.length, 100);
    assert.deepEqual(results.filter((r) => r.status !== 200), []);
    assert.deepEqual([...new Set(onConnection(results))], [1], 'node-fastcgi: every answer is the first and only one on its connection');
    assert.ok(connectionsAccepted(results) >= 90, `node-fastcgi: a connection per request: ${connectionsAccepted(results)}`);
    t.diagnostic(`node-fastcgi as it is: ${results.length} requests over ${connectionsAccepted(results)} connections`);
    assert.notDeepEqual(web2.errorLog(), [], 'node-fastcgi: nginx logs errors about the upstream');
  } finally {
    await web2.stop();
    asIs.kill('SIGTERM');
  }
});

test('TERM with kept connections: the request in flight is answered, idle kept connections are closed, the workers exit at once', { skip }, async () => {
  const pool = await startTestApp({ mode: 'pool', n: 2, env: { FCGI_TEST_LOG_REQUESTS: '1' } });
  const web = await startNginx(pool.address);
  try {
    const warm = await load(web, { loops: 4, count: 25 });
    assert.deepEqual(warm.filter((r) => r.status !== 200), []);
    const workers = livePids(pool);
    const inFlight = web.get('/?sleep=1');
    await pool.waitFor(/^request started: \/\?sleep=1 /);
    const stopAt = Date.now();
    pool.kill('SIGTERM');
    const answer = await inFlight;
    assert.equal(answer.status, 200, answer.body);
    const { code, at } = await pool.exited;
    assert.equal(code, 0, pool.lines.join('\n'));
    // die_timeout is 20 s: nginx would hold its idle connections for 60 s if the workers waited for it.
    assert.ok(at - stopAt < 10_000, `exited ${at - stopAt} ms after TERM`);
    for (const pid of workers) assert.equal(pool.count(new RegExp(`server \\(pid ${pid}\\): safe exit after SIGTERM`)), 1);
    assert.deepEqual(web.errorLog(), []);
  } finally {
    await web.stop();
  }
});

test('HUP twice under load with kept connections: no request fails, not even a POST, and nginx logs nothing', { skip }, async () => {
  const pool = await startTestApp({ mode: 'pool', n: 2 });
  const web = await startNginx(pool.address);
  try {
    const before = livePids(pool);
    let stop = false;
    const results = [];
    const running = load(web, { loops: 4, posting: 2, count: 5_000, seconds: 30, until: () => stop, results });
    // Under load before the first HUP, between the two, and after the second: bounded waits for answers.
    const answersCome = async (more, what) => {
      const mark = results.length;
      assert.ok(await eventually(() => results.length >= mark + more, 10_000), `${more} more answers ${what}: ${results.length}`);
    };
    await answersCome(20, 'before the first HUP');
    pool.kill('SIGHUP');
    const replaced = (old) => livePids(pool).length === 2 && old.every((pid) => !livePids(pool).includes(pid));
    assert.ok(await eventually(() => replaced(before), 8_000), `the first reload replaced ${before}:\n${pool.lines.join('\n')}`);
    // The new workers must be serving (their TERM handler in place) before the next HUP.
    assert.ok(await eventually(() => pool.count(/server \(pid \d+\): initialized/) === 4, 8_000), pool.lines.join('\n'));
    const middle = livePids(pool);
    await answersCome(20, 'from the new workers');
    pool.kill('SIGHUP');
    assert.ok(await eventually(() => replaced(middle), 8_000), `the second reload replaced ${middle}:\n${pool.lines.join('\n')}`);
    assert.ok(await eventually(() => pool.count(/server \(pid \d+\): initialized/) === 6, 8_000), pool.lines.join('\n'));
    await answersCome(20, 'after the second reload');
    stop = true;
    await running;
    assert.ok(results.length > 100, `${results.length} requests`);
    assert.deepEqual(results.filter((r) => r.status !== 200), []);
    assert.ok(results.filter((r) => /length=2000\b/.test(r.body)).length > 50, 'POSTs went through with their bodies');
    assert.equal(pool.count(/exited with status 0/), 4, pool.lines.join('\n'));
    // Retiring kept connections races with nothing: not even a retried request shows in the log.
    assert.deepEqual(web.errorLog(), []);
  } finally {
    await web.stop();
    pool.kill('SIGTERM');
  }
});

