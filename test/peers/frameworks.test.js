'use strict';
// Real frameworks, run unchanged under fcgi-pm behind real nginx: Express 4 and 5, Fastify 5 (on a
// unix socket and over TCP) and Koa 3, written as their communities write them (test/frameworks/,
// with its own package.json; .ci/run installs it). Through each: routing in a mounted router, a
// JSON POST, a streamed answer, an error that becomes a 500 (sync and async), the access log's request line as nginx
// sent it, a rolling reload under request loops with none failed, request_terminate_timeout with
// the worker surviving the app's late answer, and max_requests recycling.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { ROOT, tempDir, startNode, freePort, sleep, eventually, skipWithout } = require('../helpers/helpers');
const { NGINX, startWebServer, get } = require('../helpers/webservers');

const BIN = path.join(ROOT, 'bin', 'fcgi-pm.js');
const APPS = path.join(__dirname, '..', 'frameworks');
const installed = fs.existsSync(path.join(APPS, 'node_modules', 'express4')) && fs.existsSync(path.join(APPS, 'node_modules', 'fastify'));
const skip = skipWithout(NGINX && installed, 'needs nginx, and the framework apps installed (npm ci --prefix test/frameworks)');

/** A POST of `body` as JSON through `agent`; resolves with { status, headers, body }. */
function postJson(agent, port, urlPath, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method: 'POST', agent, timeout: 10_000, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${urlPath} timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** `loops` concurrent loops of GET / through keep-alive agents, each bounded to `max` requests and `maxMs`, until stop(). */
function requestLoops(port, { loops = 4, max = 400, maxMs = 20_000 } = {}) {
  let stopped = false;
  const results = [];
  const deadline = Date.now() + maxMs;
  const done = Promise.all(
    Array.from({ length: loops }, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < max && !stopped && Date.now() < deadline; i++) {
        results.push(await get(agent, port, '/').catch((err) => ({ status: 0, body: err.message })));
      }
      agent.destroy();
    }),
  );
  return {
    results,
    async stop() {
      stopped = true;
      await done;
      return results;
    },
  };
}

async function exercise(t, app, { tcp = false } = {}) {
  const dir = tempDir();
  const access = path.join(dir, 'access.log');
  const listen = tcp ? `127.0.0.1:${await freePort()}` : path.join(dir, 'app.sock');
  const flags = ['-n', '2', '-l', listen, '--access-log', access, '--access-format', '%m %r%Q%q %s', '--request-terminate-timeout', '1', '--max-requests', '60'];
  const pm = startNode({ script: BIN, args: [...flags, app], cwd: APPS });
  t.after(() => {
    try {
      process.kill(pm.pid, 'SIGKILL');
    } catch {}
  });
  await pm.waitFor(/ready: 2 servers accepting/, 30_000);
  if (app === 'fastify.js') {
    // Fastify's own listen() is taken over; the line shows its options as the app wrote them.
    assert.ok(pm.lines.some((l) => l.endsWith("server.listen({ port: 3000, host: '0.0.0.0' }) taken over: accepting on the manager's socket instead")), pm.lines.join('\n'));
  }
  const web = await startWebServer('nginx', listen);
  t.after(() => web.stop());
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());

  const home = await get(agent, web.port, '/');
  assert.equal(home.status, 200, home.body);
  assert.match(home.body, /^pid=\d+\n$/);
  assert.match(home.headers['content-type'], /^text\/plain/);

  const item = await get(agent, web.port, '/api/v1/items/7');
  assert.equal(item.status, 200, item.body);
  assert.match(item.headers['content-type'], /^application\/json/);
  assert.deepEqual(JSON.parse(item.body), { id: '7' });

  const sent = { list: [1, 2, 3], text: 'é ☃', nested: { ok: true } };
  const echo = await postJson(agent, web.port, '/api/v1/echo', sent);
  assert.equal(echo.status, 200, echo.body);
  assert.deepEqual(JSON.parse(echo.body), { got: sent });

  const stream = await get(agent, web.port, '/stream');
  assert.equal(stream.status, 200);
  assert.equal(stream.body, 'chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\ndone\n');

  const boom = await get(agent, web.port, '/boom');
  assert.equal(boom.status, 500, boom.body);
  // An async route that throws: Express 4 leaves the rejection unhandled; the request still gets its 500.
  const asyncBoom = await get(agent, web.port, '/async-boom');
  assert.equal(asyncBoom.status, 500, asyncBoom.body);

  // request_terminate_timeout (1 s): a 503, and the app's own answer at 2.5 s costs no worker.
  const slow = await get(agent, web.port, '/slow?ms=2500');
  assert.equal(slow.status, 503, slow.body);
  await sleep(2_000);
  assert.equal((await get(agent, web.port, '/')).status, 200);

  // A rolling reload under 4 request loops through nginx: none fails.
  const loops = requestLoops(web.port);
  await sleep(300);
  pm.kill('SIGHUP');
  await pm.waitFor(/reload complete: generation 2/, 30_000);
  await sleep(300);
  const results = await loops.stop();
  const failed = results.filter((r) => r.status !== 200 || !/^pid=\d+\n$/.test(r.body));
  assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${results.length} failed across the reload`);
  assert.ok(results.length > 50, `only ${results.length} requests`);

  // max_requests 60: the loops' requests passed it; recycled workers were replaced, none was lost.
  assert.ok(pm.count(/recycled: reached max_requests \(60\)/) >= 1, pm.lines.join('\n'));
  assert.equal(pm.count(/uncaught exception|failed to start/), 0, pm.lines.join('\n'));
  // A worker TERMed while it boots (the HUP retires its generation) exits by that signal: not a death.
  assert.equal(pm.count(/exited with status \d+ \((exit code [1-9]|signal (?!TERM))/), 0, `a worker died:\n${pm.lines.join('\n')}`);

  // The access log has the request lines nginx sent, not the app's rewritten URLs.
  assert.ok(await eventually(() => fs.existsSync(access) && fs.readFileSync(access, 'utf8').includes('GET /slow?ms=2500 503')), 'the access log');
  const lines = fs.readFileSync(access, 'utf8').split('\n');
  for (const line of ['GET /api/v1/items/7 200', 'POST /api/v1/echo 200', 'GET /stream 200', 'GET /boom 500', 'GET /async-boom 500', 'GET /slow?ms=2500 503']) {
    assert.ok(lines.includes(line), `access log line "${line}" in:\n${lines.slice(0, 12).join('\n')}`);
  }
  assert.deepEqual(web.errorLog().filter((l) => /\[(error|crit|alert|emerg)\]/.test(l) && !/upstream timed out|prematurely closed/.test(l)), []);

  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0, pm.lines.slice(-10).join('\n'));
}

test('Express 4 under fcgi-pm behind nginx', { skip, timeout: 120_000 }, (t) => exercise(t, 'express4.js'));
test('Express 5 under fcgi-pm behind nginx', { skip, timeout: 120_000 }, (t) => exercise(t, 'express5.js'));
test('Fastify 5 (serverFactory) under fcgi-pm on a unix socket behind nginx', { skip, timeout: 120_000 }, (t) => exercise(t, 'fastify.js'));
test('Fastify 5 (serverFactory) under fcgi-pm over TCP behind nginx', { skip, timeout: 120_000 }, (t) => exercise(t, 'fastify.js', { tcp: true }));
test('Koa 3 under fcgi-pm behind nginx', { skip, timeout: 120_000 }, (t) => exercise(t, 'koa.js'));
