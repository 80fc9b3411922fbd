'use strict';
// What the worker path tells the application, seen from a raw client and the application's own log
// (test/fixtures/events-app.js): FCGI_ABORT_REQUEST, a client gone mid-request (and a TERM after
// either), the 'protocolError' event, a duplicate FCGI_BEGIN_REQUEST, valueMap in FCGI_GET_VALUES,
// the linger cut-offs, and string writes over one record's 65,535 bytes.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { startNode, tempDir, livePids, isAlive } = require('../helpers/helpers');
const { RawConnection, TYPE, record, request, beginRequest, getValues, parseNameValuePairs } = require('../helpers/fcgi-raw-client');

const APP = path.join(__dirname, '..', 'fixtures', 'events-app.js');

async function startApp() {
  const address = path.join(tempDir(), 'events.sock');
  const app = startNode({ script: APP, args: [address] });
  app.address = address;
  await app.waitFor(/ready: 1 server accepting/);
  app.worker = livePids(app)[0];
  return app;
}

/** Signals `app` if it is still there (a test may have stopped it already). */
function stop(app, signal) {
  if (isAlive(app.pid)) app.kill(signal);
}

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A line of the app's own log, for its one worker. */
const appLine = (app, text) => new RegExp(`^${escape(text)} \\(pid ${app.worker}\\)$`);

/** Sends TERM to the manager; resolves once it has exited 0, with the worker's log lines in order. */
async function stopsAtOnce(app) {
  app.kill('SIGTERM');
  // The worker holds a request whose timer runs 30 s more: it must not wait for it.
  await app.waitFor(new RegExp(`server \\(pid ${app.worker}\\): safe exit after SIGTERM`), 20_000);
  assert.equal((await app.exited).code, 0);
  assert.equal(app.count(/^timer fired/), 0, `the worker did not wait for the aborted request:\n${app.lines.join('\n')}`);
}

test('FCGI_ABORT_REQUEST: the request ends with app status 1, the application sees it aborted, the connection serves on, and a TERM does not wait for it', async () => {
  const app = await startApp();
  const conn = await RawConnection.open(app.address);
  try {
    await conn.write(request(1, { keepConn: true, params: { REQUEST_URI: '/?sleep=30' } }));
    await app.waitFor(appLine(app, 'request started: /?sleep=30'));
    await conn.write(record(TYPE.ABORT_REQUEST, 1));
    const aborted = await conn.response(1);
    assert.deepEqual(aborted.end, { appStatus: 1, protocolStatus: 0 });
    assert.equal(aborted.status, undefined, 'no answer was begun');
    await app.waitFor(appLine(app, 'request aborted: /?sleep=30'));
    await app.waitFor(appLine(app, 'response closed unfinished: /?sleep=30'));
    // Aborted after the application has read the whole body: it hears 'aborted' all the same, as with
    // node-fastcgi (node:http's own destroy() would not say it).
    await conn.write(request(2, { keepConn: true, params: { REQUEST_METHOD: 'POST', REQUEST_URI: '/?sleep=30&read=1' }, stdin: 'body' }));
    await app.waitFor(appLine(app, 'body read: /?sleep=30&read=1'));
    await conn.write(record(TYPE.ABORT_REQUEST, 2));
    assert.deepEqual((await conn.response(2)).end, { appStatus: 1, protocolStatus: 0 });
    await app.waitFor(appLine(app, 'request aborted: /?sleep=30&read=1'));
    await app.waitFor(appLine(app, 'response closed unfinished: /?sleep=30&read=1'));
    // The same kept connection serves the next request.
    await conn.write(request(3, { keepConn: true }));
    const next = await conn.response(3);
    assert.equal(next.status, 200);
    assert.match(next.body, /^events pid=\d+ conn=1\n$/);
    assert.equal(conn.finReceived, false);
    await stopsAtOnce(app);
    assert.deepEqual(conn.answer(1).afterEnd, [], 'nothing for the aborted requests after their FCGI_END_REQUEST');
    assert.deepEqual(conn.answer(2).afterEnd, []);
  } finally {
    conn.close();
    stop(app, 'SIGKILL');
  }
});

test('a client that disconnects mid-request: the application sees the request aborted, other connections are served, and a TERM does not wait for it', async () => {
  const app = await startApp();
  try {
    const leaver = await RawConnection.open(app.address);
    await leaver.write(request(1, { keepConn: true, params: { REQUEST_URI: '/?sleep=30' } }));
    await app.waitFor(appLine(app, 'request started: /?sleep=30'));
    leaver.close(); // gone, with the request in flight
    await app.waitFor(appLine(app, 'request aborted: /?sleep=30'));
    await app.waitFor(appLine(app, 'response closed unfinished: /?sleep=30'));
    await app.waitFor(appLine(app, 'connection 1 closed'));
    const other = await RawConnection.open(app.address);
    await other.write(request(1));
    assert.match((await other.response(1)).body, /^events pid=\d+ conn=2\n$/);
    other.close();
    await stopsAtOnce(app);
  } finally {
    stop(app, 'SIGKILL');
  }
});

test("'protocolError': a malformed stream closes its connection with the event; a duplicate FCGI_BEGIN_REQUEST is only reported", async () => {
  const app = await startApp();
  try {
    // A header with version 2: the connection is closed, the event tells why.
    const bad = await RawConnection.open(app.address);
    const bytes = request(1);
    bytes[0] = 2;
    await bad.write(bytes);
    await bad.until((c) => c.finReceived || c.endedState !== undefined, 5_000, 'the close');
    assert.deepEqual(bad.records, []);
    await app.waitFor(appLine(app, 'protocolError: record header with FastCGI version 2, expected 1'));
    bad.close();

    // A second FCGI_BEGIN_REQUEST for a request id in use: reported, ignored; the request in flight is
    // answered and the connection serves on.
    const conn = await RawConnection.open(app.address);
    await conn.write(request(1, { keepConn: true, params: { REQUEST_URI: '/?sleep=0.5' } }));
    await app.waitFor(appLine(app, 'request started: /?sleep=0.5'));
    await conn.write(beginRequest(1, { keepConn: true }));
    await app.waitFor(appLine(app, 'protocolError: Request id 1 already in use'));
    const first = await conn.response(1);
    assert.equal(first.status, 200, conn.describe());
    assert.equal(first.body, 'slept\n');
    await conn.write(request(2, { keepConn: true }));
    assert.equal((await conn.response(2)).status, 200);
    assert.equal(conn.records.filter((r) => r.type === TYPE.END_REQUEST).length, 2, 'one FCGI_END_REQUEST per request');
    assert.equal(app.count(/protocolError/), 2);
    conn.close();
  } finally {
    stop(app, 'SIGTERM');
  }
});

test("valueMap: FCGI_GET_VALUES answers the application's own variables from the server's config", async () => {
  const app = await startApp();
  try {
    const conn = await RawConnection.open(app.address);
    await conn.write(getValues(['APP_NAME', 'APP_UNSET', 'FCGI_MPXS_CONNS', 'NOT_MAPPED']));
    await conn.until((c) => c.records.length > 0, 5_000, 'FCGI_GET_VALUES_RESULT');
    assert.equal(conn.records[0].type, TYPE.GET_VALUES_RESULT);
    // APP_UNSET maps to a config key that is not set, NOT_MAPPED to nothing: both left out, as the spec says.
    assert.deepEqual(parseNameValuePairs(conn.records[0].content), { APP_NAME: 'events-app', FCGI_MPXS_CONNS: '1' });
    conn.close();
  } finally {
    stop(app, 'SIGTERM');
  }
});

test('linger: a peer that never finishes its request, or never closes after the FIN, is cut off', async () => {
  const app = await startApp();
  try {
    // Answered before its FCGI_STDIN ends (the app reads no body): the worker waits for the rest of
    // the request before its FIN, but not forever.
    const unfinished = await RawConnection.open(app.address);
    await unfinished.write(request(1, { stdinEnd: false }));
    const answer = await unfinished.response(1);
    assert.equal(answer.status, 200);
    const unfinishedNumber = /conn=(\d+)/.exec(answer.body)[1];
    // A whole request without FCGI_KEEP_CONN: FIN after the answer; this client keeps its side open.
    const halfOpen = await RawConnection.open(app.address);
    await halfOpen.write(request(1));
    const halfOpenNumber = /conn=(\d+)/.exec((await halfOpen.response(1)).body)[1];
    await halfOpen.until((c) => c.finReceived, 5_000, 'the FIN after the answer');
    // Both are closed by the worker (after LINGER_MS, 5 s): neither client ever closes.
    await app.waitFor(appLine(app, `connection ${unfinishedNumber} closed`), 20_000);
    await app.waitFor(appLine(app, `connection ${halfOpenNumber} closed`), 20_000);
    await unfinished.until((c) => c.finReceived || c.endedState !== undefined, 5_000, 'the cut-off, seen by the client');
    assert.equal(halfOpen.endedState, undefined, 'we never closed our side');
    unfinished.close();
    halfOpen.close();
  } finally {
    stop(app, 'SIGTERM');
  }
});

test('string writes over 65,535 bytes are cut into records, in the encoding asked for', async () => {
  const app = await startApp();
  try {
    // flush=1: the headers are sent first, so the string itself is what the worker path is given.
    const cases = [
      ['ascii=65535&flush=1', Buffer.alloc(65535, 'a')],
      ['ascii=65536&flush=1', Buffer.alloc(65536, 'a')],
      ['ascii=65536', Buffer.alloc(65536, 'a')],
      ['ascii=200001&flush=1', Buffer.alloc(200001, 'a')],
      ['utf8=40000&flush=1', Buffer.from('é'.repeat(40000))], // 80,000 bytes: a character straddles two records
      ['utf8=40000', Buffer.from('é'.repeat(40000))],
      ['latin1=70000&flush=1', Buffer.alloc(70000, 0xff)],
      ['latin1=70000', Buffer.alloc(70000, 0xff)],
    ];
    const conn = await RawConnection.open(app.address);
    let id = 0;
    for (const [query, expected] of cases) {
      id++;
      await conn.write(request(id, { keepConn: true, params: { REQUEST_URI: `/?${query}` } }));
      const answer = await conn.response(id);
      assert.deepEqual(answer.end, { appStatus: 0, protocolStatus: 0 }, `${query}: ${conn.describe()}`);
      const body = answer.stdout.subarray(answer.stdout.indexOf('\r\n\r\n') + 4);
      assert.equal(body.length, expected.length, query);
      assert.ok(body.equals(expected), `${query}: the bytes are the string's`);
      const records = conn.records.filter((r) => r.requestId === id && r.type === TYPE.STDOUT && r.content.length > 0);
      assert.ok(records.every((r) => r.content.length <= 0xffff));
    }
    assert.equal(conn.pending.length, 0, 'no record was cut');
    conn.close();
  } finally {
    stop(app, 'SIGTERM');
  }
});
