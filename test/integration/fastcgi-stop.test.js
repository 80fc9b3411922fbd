'use strict';
// Stopping a worker that holds kept (FCGI_KEEP_CONN) connections, seen byte by byte from a raw
// client: what is in flight is answered whole, a kept connection is retired only after its last
// FCGI_END_REQUEST, and the worker does not wait for the web server to let go of idle connections.
// When other workers serve on (a reload), kept connections are handed over to them instead.

const test = require('node:test');
const assert = require('node:assert/strict');
const { eventually, livePids, sleep } = require('../helpers/helpers');
const { startTestApp, RawConnection, request } = require('../helpers/fcgi-raw-client');

const RETIRE_HINT = ['GET_VALUES_RESULT', 0, 0];
const summary = (conn) => conn.records.map((r) => [r.typeName, r.requestId, r.content.length]);

test('TERM with a request in flight on a kept connection: the answer is whole, then the retire hint; a client that ignores it is closed on', async () => {
  const app = await startTestApp({ mode: 'pool', n: 1, env: { FCGI_TEST_LOG_REQUESTS: '1' } });
  const [worker] = livePids(app);
  const conn = await RawConnection.open(app.address);
  await conn.write(request(1, { keepConn: true }));
  await conn.response(1);
  await conn.write(request(2, { keepConn: true, params: { REQUEST_URI: '/?sleep=0.5' } }));
  await app.waitFor(/^request started: \/\?sleep=0\.5 /);
  app.kill('SIGTERM');
  const answer = await conn.response(2);
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.end, { appStatus: 0, protocolStatus: 0 });
  await conn.until((c) => c.endedState !== undefined || c.finReceived, 5_000, 'the worker closing the connection');
  const records = summary(conn);
  const end = records.findIndex((r) => r[0] === 'END_REQUEST' && r[1] === 2);
  assert.deepEqual(records.slice(end + 1), [RETIRE_HINT], 'an empty FCGI_GET_VALUES_RESULT right after FCGI_END_REQUEST, and nothing else');
  assert.equal(conn.pending.length, 0, 'no record was cut');
  assert.equal((await app.exited).code, 0);
  assert.equal(app.count(new RegExp(`server \\(pid ${worker}\\): safe exit after SIGTERM`)), 1, app.lines.join("\n"));
  conn.close();
});

test('TERM with a request from Apache in flight on a kept connection: no hint (Apache would read it as its next answer), the connection closed right behind the answer', async () => {
  const app = await startTestApp({ mode: 'pool', n: 1, env: { FCGI_TEST_LOG_REQUESTS: '1' } });
  const conn = await RawConnection.open(app.address);
  await conn.write(request(1, { keepConn: true, params: { REQUEST_URI: '/?sleep=0.5', SERVER_SOFTWARE: 'Apache/2.4.71 (Debian)' } }));
  await app.waitFor(/^request started: \/\?sleep=0\.5 /);
  app.kill('SIGTERM');
  const answer = await conn.response(1);
  assert.equal(answer.status, 200);
  await conn.until((c) => c.endedState !== undefined || c.finReceived, 5_000, 'the worker closing the connection');
  assert.deepEqual(answer.afterEnd, [], 'nothing after FCGI_END_REQUEST');
  assert.deepEqual(summary(conn).slice(-1)[0]?.[0], 'END_REQUEST');
  assert.equal((await app.exited).code, 0);
  conn.close();
});

test('TERM with idle kept connections: they are closed at once and the worker exits', async () => {
  const app = await startTestApp({ mode: 'pool', n: 1 });
  const conns = [];
  for (let i = 0; i < 3; i++) {
    const conn = await RawConnection.open(app.address);
    await conn.write(request(1, { keepConn: true }));
    await conn.response(1);
    conns.push(conn);
  }
  await sleep(1_200); // quiet for longer than the worker waits for a busy connection's next request (1 s)
  const stopAt = Date.now();
  app.kill('SIGTERM');
  for (const conn of conns) await conn.until((c) => c.endedState !== undefined || c.finReceived, 5_000, 'the close');
  const { code, at } = await app.exited;
  assert.equal(code, 0);
  // These clients never close: a worker that waited for them would be there until die_timeout (20 s).
  assert.ok(at - stopAt < 15_000, `the worker exited ${at - stopAt} ms after TERM`);
  for (const conn of conns) {
    assert.deepEqual(summary(conn).slice(-1)[0]?.[0], 'END_REQUEST', 'an idle connection is closed without a hint');
    conn.close();
  }
});

test('HUP with kept connections: each one is handed to a new worker, busy or idle, and its next request is answered there; the client sees no close and no hint', async () => {
  const app = await startTestApp({ mode: 'pool', n: 1, env: { FCGI_TEST_LOG_REQUESTS: '1' } });
  const [old] = livePids(app);
  const idle = await RawConnection.open(app.address);
  const busy = await RawConnection.open(app.address);
  for (const conn of [idle, busy]) {
    await conn.write(request(1, { keepConn: true }));
    assert.match((await conn.response(1)).body, new RegExp(`^pid=${old} `));
  }
  // One request in flight across the reload: the old worker answers it, then hands the connection on.
  await busy.write(request(2, { keepConn: true, params: { REQUEST_URI: '/?sleep=1' } }));
  await app.waitFor(/^request started: \/\?sleep=1 /);
  app.kill('SIGHUP');
  await app.waitFor(/reload complete: generation 2/, 20_000);
  const slow = await busy.response(2, 10_000);
  assert.match(slow.body, new RegExp(`^pid=${old} `), 'the request in flight is answered by the old worker');
  assert.deepEqual(slow.afterEnd, [], 'nothing follows its FCGI_END_REQUEST');
  assert.ok(await eventually(() => !livePids(app).includes(old), 10_000), 'the old worker exits');
  const [successor] = livePids(app);
  for (const conn of [idle, busy]) {
    await conn.write(request(3, { keepConn: true }));
    const next = await conn.response(3);
    assert.equal(next.status, 200);
    assert.match(next.body, new RegExp(`^pid=${successor} `), `the new worker answers on the same connection: ${next.body}`);
    assert.equal(conn.finReceived, false, 'the connection was never closed');
    assert.ok(!conn.records.some((r) => r.typeName === 'GET_VALUES_RESULT'), 'no retire hint was sent');
  }
  for (const conn of [idle, busy]) conn.close();
  app.kill('SIGTERM');
  assert.equal((await app.exited).code, 0);
});

test("node-fastcgi's server timeout: an idle kept connection is closed after it, a busy one is not", async () => {
  const app = await startTestApp({ mode: 'pool', n: 1, env: { FCGI_TEST_TIMEOUT_MS: '400' } });
  const idle = await RawConnection.open(app.address);
  const busy = await RawConnection.open(app.address);
  for (const conn of [idle, busy]) {
    await conn.write(request(1, { keepConn: true }));
    await conn.response(1);
  }
  const idleSince = Date.now();
  const idleClosedAt = idle.until((c) => c.finReceived || c.endedState !== undefined, 5_000, 'the idle connection closed').then(() => Date.now());
  const started = Date.now();
  // The busy one has traffic every 100 ms for 1.5 s: over three times the timeout.
  let id = 2;
  while (Date.now() - started < 1_500) {
    await busy.write(request(id, { keepConn: true }));
    await busy.response(id);
    id++;
    await sleep(100);
  }
  const idleFor = (await idleClosedAt) - idleSince;
  assert.ok(idleFor >= 400 && idleFor < 4_000, `the idle connection was closed after ${idleFor} ms of quiet (timeout 400 ms)`);
  assert.equal(busy.finReceived, false, 'the busy connection is still open');
  assert.equal(busy.endedState, undefined);
  await busy.write(request(id, { keepConn: true }));
  assert.equal((await busy.response(id)).status, 200, 'and answers');
  for (const conn of [idle, busy]) conn.close();
  app.kill('SIGTERM');
  assert.equal((await app.exited).code, 0);
});
