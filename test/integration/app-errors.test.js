'use strict';
// Errors in application code cost one request, not a worker: a handler that throws or rejects gets a
// 500, a response that had begun gets its connection closed, and the worker's other requests carry
// on. An exception outside any request makes the worker drain and exit non-zero, and it is replaced.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { startHello, fcgiRequest, pidOf, livePids, isAlive, eventually } = require('../helpers/helpers');
const { nginxSkip, startWebServer, get } = require('../helpers/webservers');

const FAULTY = path.join(__dirname, '..', 'fixtures', 'faulty-app.js');

async function startFaulty(env = {}) {
  return startHello({ n: 1, script: FAULTY, env });
}

test('a handler that throws gets a 500 with its stack logged; a request in flight on the same worker completes', async () => {
  const pm = await startFaulty();
  const [worker] = livePids(pm);
  const slow = fcgiRequest(pm.address, { query: 'sleep=1' });
  await pm.waitFor(/request started sleep=1/);

  const failed = await fcgiRequest(pm.address, { query: 'throw' });
  assert.equal(failed.status, 500, failed.stdout);
  assert.equal(failed.code, 0, 'cgi-fcgi got a whole FastCGI answer');
  assert.match(failed.body, /^Internal Server Error\n$/);
  const logged = await pm.waitFor(/request "GET \/\?throw" failed \(answered 500\): Error: thrown by the handler/);
  assert.ok(logged);
  assert.ok(pm.lines.some((line) => /^\s+at .*faulty-app\.js:\d+/.test(line)), 'the stack is logged');

  const after = await slow;
  assert.ok(after.ok, `the concurrent request completed: ${after.stdout}`);
  assert.equal(pidOf(after), worker);
  const next = await fcgiRequest(pm.address);
  assert.equal(pidOf(next), worker, 'the same worker serves on');
  assert.equal(pm.count(/exited with status/), 0, 'no worker exited');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('a handler whose promise rejects gets a 500, and the worker serves on', async () => {
  const pm = await startFaulty();
  const [worker] = livePids(pm);
  const failed = await fcgiRequest(pm.address, { query: 'reject' });
  assert.equal(failed.status, 500, failed.stdout);
  await pm.waitFor(/request "GET \/\?reject" failed \(answered 500\): Error: rejected by the handler/);
  const next = await fcgiRequest(pm.address);
  assert.ok(next.ok);
  assert.equal(pidOf(next), worker);
  assert.equal(pm.count(/exited with status/), 0);
  pm.kill('SIGTERM');
  await pm.exited;
});

test('a handler that throws after its response began has its connection closed, so the cut is not taken for a whole answer', async () => {
  const pm = await startFaulty();
  const [worker] = livePids(pm);
  const cut = await fcgiRequest(pm.address, { query: 'partial' });
  assert.notEqual(cut.code, 0, 'cgi-fcgi saw the connection close before FCGI_END_REQUEST');
  assert.doesNotMatch(cut.stdout, /Internal Server Error/);
  await pm.waitFor(/request "GET \/\?partial" failed \(response begun, connection closed\): Error: thrown after the response began/);
  const next = await fcgiRequest(pm.address);
  assert.ok(next.ok);
  assert.equal(pidOf(next), worker);
  assert.equal(pm.count(/exited with status/), 0);
  pm.kill('SIGTERM');
  await pm.exited;
});

test("a request's own later work that fails (a rejection nobody handles, a timer that throws) costs that request a 500, not the worker", async () => {
  const pm = await startFaulty();
  const [worker] = livePids(pm);
  for (const [query, message] of [['lost-rejection', 'a rejection nobody handles'], ['timer-throw', 'thrown by a timer of the request']]) {
    const failed = await fcgiRequest(pm.address, { query });
    assert.equal(failed.status, 500, failed.stdout);
    await pm.waitFor(new RegExp(`request "GET /\\?${query}" failed \\(answered 500\\): Error: ${message}`));
  }
  const next = await fcgiRequest(pm.address);
  assert.equal(pidOf(next), worker, 'the same worker serves on');
  assert.equal(pm.count(/uncaught exception outside any request/), 0);
  assert.equal(pm.count(/exited with status/), 0);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('an uncaught exception outside any request: the worker stops accepting, finishes its request in flight, exits 1 and is replaced', async () => {
  const pm = await startFaulty();
  const [worker] = livePids(pm);
  const slow = fcgiRequest(pm.address, { query: 'sleep=1' });
  await pm.waitFor(/request started sleep=1/);
  const trigger = await fcgiRequest(pm.address, { query: 'uncaught' });
  assert.ok(trigger.ok, 'the request that started the timer was answered');
  await pm.waitFor(/uncaught exception outside any request; no longer accepting.*Error: thrown outside any request/);

  const inFlight = await slow;
  assert.ok(inFlight.ok, `the request in flight completed: ${inFlight.stdout}`);
  assert.equal(pidOf(inFlight), worker);
  await pm.waitFor(new RegExp(`server \\(pid ${worker}\\) exited with status 256 \\(exit code 1\\)`));
  const replaced = await eventually(() => livePids(pm).length === 1 && !livePids(pm).includes(worker), 10_000);
  assert.ok(replaced, `a replacement was forked:\n${pm.lines.join('\n')}`);
  assert.equal(isAlive(worker), false);
  const [fresh] = livePids(pm);
  await pm.waitFor(new RegExp(`server \\(pid ${fresh}\\): initialized`));
  const next = await eventually(async () => {
    const r = await fcgiRequest(pm.address);
    return r.ok && r;
  }, 10_000);
  assert.equal(pidOf(next), fresh);
  pm.kill('SIGTERM');
  await pm.exited;
});

test('through nginx with kept connections, a failing handler is a 500 for that request alone: no 502, no retry on another worker, no worker lost', { skip: nginxSkip }, async () => {
  const pm = await startHello({ n: 2, script: FAULTY });
  const web = await startWebServer('nginx', pm.address);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const statuses = [];
    for (const query of ['throw', 'reject', 'throw']) statuses.push((await get(agent, web.port, `/?${query}`)).status);
    assert.deepEqual(statuses, [500, 500, 500]);
    const ok = await get(agent, web.port, '/');
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^pid=\d+\n$/);
    assert.equal(pm.count(/request started throw/), 2, 'nginx sent each failing request once: no retry');
    assert.equal(pm.count(/exited with status/), 0, 'no worker exited');
    assert.deepEqual(web.errorLog().filter((line) => /upstream|\[error\]/.test(line)), [], 'nginx saw no upstream failure');
  } finally {
    agent.destroy();
    await web.stop();
    pm.kill('SIGTERM');
    await pm.exited;
  }
});
