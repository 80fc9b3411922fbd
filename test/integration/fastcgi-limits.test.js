'use strict';
// createServer's `maxConns` on the worker path, with real connections: a connection beyond it is
// closed unserved, as FCGI_GET_VALUES reports (FCGI_MAX_CONNS), and a place freed is taken again.
// (`multiplex: false` and `maxReqs` are in fastcgi-defects.test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');
const { eventually } = require('../helpers/helpers');
const { startTestApp, RawConnection, TYPE, request, getValues, parseNameValuePairs } = require('../helpers/fcgi-raw-client');

const connsIn = (answer) => Number(/conns=(\d+)/.exec(answer.body)?.[1]);

/** A kept connection that has been served once: the worker has accepted it. */
async function servedConnection(address) {
  const conn = await RawConnection.open(address);
  await conn.write(request(1, { keepConn: true }));
  const answer = await conn.response(1);
  assert.equal(answer.status, 200, conn.describe());
  return { conn, answer };
}

/** One request on a fresh connection: its answer, or undefined if the connection closed without one. */
async function tryConnection(address) {
  const conn = await RawConnection.open(address);
  await conn.write(request(1, { keepConn: true }));
  await conn.until((c) => c.endOf(1) || c.endedState !== undefined || c.finReceived, 10_000, 'an answer or the close');
  const answer = conn.endOf(1) ? conn.answer(1) : undefined;
  return { conn, answer };
}

test('maxConns: the worker path closes a connection beyond it unserved; node-fastcgi as it is reports it and serves on', async () => {
  const env = { FCGI_TEST_MAX_CONNS: '2' };
  const asIs = await startTestApp({ mode: 'as-is', env });
  const pool = await startTestApp({ mode: 'pool', n: 1, env });
  try {
    // The worker path: two connections held, each served once.
    const held = [await servedConnection(pool.address), await servedConnection(pool.address)];
    assert.deepEqual(held.map((h) => connsIn(h.answer)), [1, 2]);
    // A third: the kernel takes it into the backlog, the worker accepts it and closes it at once.
    const third = await tryConnection(pool.address);
    assert.equal(third.answer, undefined, `beyond maxConns: ${third.conn.describe()}`);
    assert.deepEqual(third.conn.records, [], 'not a record on it');
    assert.notEqual(third.conn.endedState ?? (third.conn.finReceived && 'fin'), undefined, 'the connection is closed');
    third.conn.close();
    // What FCGI_GET_VALUES says is what was enforced; the held connections serve on.
    const [first, second] = held.map((h) => h.conn);
    await first.write(getValues(['FCGI_MAX_CONNS']));
    await first.until((c) => c.records.some((r) => r.type === TYPE.GET_VALUES_RESULT), 5_000, 'FCGI_GET_VALUES_RESULT');
    assert.deepEqual(parseNameValuePairs(first.records.find((r) => r.type === TYPE.GET_VALUES_RESULT).content), { FCGI_MAX_CONNS: '2' });
    await second.write(request(2, { keepConn: true }));
    assert.equal((await second.response(2)).status, 200);
    // A place freed is taken again, once the worker has seen the close (bounded retries).
    first.close();
    let served;
    const again = await eventually(async () => {
      const attempt = await tryConnection(pool.address);
      if (attempt.answer) served = attempt;
      else attempt.conn.close();
      return served !== undefined;
    }, 10_000);
    assert.ok(again, 'a new connection is served once one of the two is closed');
    assert.equal(served.answer.status, 200);
    assert.equal(connsIn(served.answer), 3, 'the connection refused was never accepted as one of the server\'s');
    served.conn.close();
    second.close();

    // node-fastcgi as it is: two connections open (idle: it closes one after its first request), a
    // third is served all the same, while the two are still open.
    const asIsHeld = [await RawConnection.open(asIs.address), await RawConnection.open(asIs.address)];
    const asIsThird = await tryConnection(asIs.address);
    assert.equal(asIsThird.answer?.status, 200, 'node-fastcgi does not enforce maxConns');
    assert.equal(connsIn(asIsThird.answer), 3, 'the third connection accepted');
    for (const conn of asIsHeld) assert.ok(!conn.finReceived && conn.endedState === undefined, 'the other two are still open');
    asIsThird.conn.close();
    await asIsHeld[0].write(getValues(['FCGI_MAX_CONNS']));
    await asIsHeld[0].until((c) => c.records.some((r) => r.type === TYPE.GET_VALUES_RESULT), 5_000, 'FCGI_GET_VALUES_RESULT');
    assert.deepEqual(parseNameValuePairs(asIsHeld[0].records[0].content), { FCGI_MAX_CONNS: '2' }, 'while it reports 2');
    for (const conn of asIsHeld) conn.close();
  } finally {
    asIs.kill('SIGKILL');
    pool.kill('SIGTERM');
  }
});
