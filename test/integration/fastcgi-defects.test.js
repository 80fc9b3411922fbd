'use strict';
// node-fastcgi 2.0.0's protocol defects, each reproduced with exact bytes from a raw FastCGI client
// against node-fastcgi as it is (a plain `fcgi.createServer(...).listen(path)` app), and shown gone
// on the worker path (the same app code under ProcManager's attach()).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, startNode, tempDir, fcgiRequest, sleep, isAlive } = require('../helpers/helpers');
const { startTestApp, RawConnection, TYPE, ROLE, STATUS, request, record, getValues, beginRequest, streamRecords, nameValuePairs, parseNameValuePairs } =
  require('../helpers/fcgi-raw-client');

const bodyOf = (answer) => answer.body.trim();
const connsIn = (answer) => Number(/conns=(\d+)/.exec(answer.body)?.[1]);

test('defect 1, FCGI_KEEP_CONN: node-fastcgi closes after one request; the worker path serves the next on the same connection', async () => {
  const asIs = await startTestApp({ mode: 'as-is' });
  const pool = await startTestApp({ mode: 'pool' });
  try {
    // node-fastcgi: the flag is set, yet the connection ends after the first answer.
    let conn = await RawConnection.open(asIs.address);
    await conn.write(request(1, { keepConn: true }));
    assert.equal((await conn.response(1)).status, 200);
    await conn.until((c) => c.finReceived || c.endedState, 5_000, 'the server closing');
    const lateWrite = await conn.write(request(2, { keepConn: true }));
    await sleep(200);
    assert.equal(conn.endOf(2), undefined, 'node-fastcgi never answers the second request');
    assert.ok(conn.finReceived || lateWrite, `node-fastcgi ended the connection (${conn.describe()})`);
    conn.close();

    // The worker path: three requests in turn on one connection, all answered, no FIN.
    conn = await RawConnection.open(pool.address);
    for (const id of [1, 2, 3]) {
      await conn.write(request(id, { keepConn: true }));
      const answer = await conn.response(id);
      assert.equal(answer.status, 200, conn.describe());
      assert.equal(connsIn(answer), 1, 'one connection accepted in all');
      assert.deepEqual(answer.end, { appStatus: 0, protocolStatus: STATUS.REQUEST_COMPLETE });
    }
    await sleep(100);
    assert.equal(conn.finReceived, false);
    // Without the flag, the worker path closes after the answer (FIN, no reset).
    await conn.write(request(4, { keepConn: false }));
    assert.equal((await conn.response(4)).status, 200);
    await conn.until((c) => c.finReceived, 5_000, 'FIN after a request without FCGI_KEEP_CONN');
    assert.equal(conn.endedState, undefined, 'our side stays open: the server only half-closed');
    conn.close();
  } finally {
    asIs.kill('SIGKILL');
    pool.kill('SIGTERM');
  }
});

test('defect 1, multiplexing: of three interleaved requests node-fastcgi answers the two quick ones, then closes and drops the slow one; the worker path answers all', async () => {
  const asIs = await startTestApp({ mode: 'as-is' });
  const pool = await startTestApp({ mode: 'pool' });
  try {
    const interleaved = (ids) =>
      Buffer.concat([
        ...ids.map((id) => beginRequest(id, { keepConn: true })),
        ...ids.map((id) =>
          streamRecords(
            TYPE.PARAMS,
            id,
            nameValuePairs({ REQUEST_METHOD: 'GET', REQUEST_URI: id === 1 ? '/?sleep=0.3' : `/?id=${id}`, SERVER_PROTOCOL: 'HTTP/1.1' }),
          ),
        ),
        ...ids.map((id) => streamRecords(TYPE.STDIN, id)),
      ]);
    const answered = async (address) => {
      const conn = await RawConnection.open(address);
      await conn.write(interleaved([1, 2, 3]));
      await conn.until((c) => [1, 2, 3].every((id) => c.endOf(id)) || c.endedState || c.finReceived, 5_000).catch(() => {});
      await sleep(500); // request 1 sleeps 0.3 s: time for its answer, if it were to come
      const ids = [1, 2, 3].filter((id) => conn.answer(id).status === 200 && conn.answer(id).end);
      conn.close();
      return { ids, fin: conn.finReceived, records: conn.records.filter((r) => r.requestId === 1).length };
    };
    // node-fastcgi: requests 2 and 3, answered at once, are complete; after them it ends the connection
    // (FIN), and request 1 gets nothing at all.
    assert.deepEqual(await answered(asIs.address), { ids: [2, 3], fin: true, records: 0 });
    assert.deepEqual(await answered(pool.address), { ids: [1, 2, 3], fin: false, records: 3 });
  } finally {
    asIs.kill('SIGKILL');
    pool.kill('SIGTERM');
  }
});

test('defect 2: node-fastcgi writes FCGI_STDERR after FCGI_END_REQUEST; the worker path writes nothing after it', async () => {
  // node-fastcgi with only the flag name corrected, so that it keeps the connection as nginx asks.
  const asIs = await startTestApp({ mode: 'as-is', env: { FCGI_TEST_KEEP_CONN_ALIAS: '1' } });
  const pool = await startTestApp({ mode: 'pool' });
  try {
    let conn = await RawConnection.open(asIs.address);
    await conn.write(request(1, { keepConn: true }));
    await conn.response(1);
    await sleep(200);
    const after = conn.answer(1).afterEnd;
    assert.deepEqual(
      after.map((r) => [r.typeName, r.content.length]),
      [['STDERR', 0]],
      'node-fastcgi: an empty FCGI_STDERR follows FCGI_END_REQUEST (nginx: "upstream sent unexpected FastCGI record")',
    );
    conn.close();

    conn = await RawConnection.open(pool.address);
    await conn.write(request(1, { keepConn: true }));
    await conn.write(request(2, { keepConn: true, params: { REQUEST_URI: '/?stderr=warned' } }));
    const [plain, warned] = [await conn.response(1), await conn.response(2)];
    await sleep(200);
    assert.deepEqual(conn.answer(1).afterEnd, []);
    assert.deepEqual(conn.answer(2).afterEnd, []);
    assert.equal(plain.stderr, '');
    assert.ok(!conn.records.some((r) => r.requestId === 1 && r.type === TYPE.STDERR), 'no FCGI_STDERR at all for a request that wrote none');
    // A used FCGI_STDERR is ended before FCGI_END_REQUEST.
    assert.equal(warned.stderr, 'warned');
    const mine = conn.records.filter((r) => r.requestId === 2).map((r) => `${r.typeName}${r.content.length ? '' : '(end)'}`);
    assert.deepEqual(mine.slice(-3).sort(), ['STDERR(end)', 'STDOUT(end)', 'END_REQUEST'].sort());
    assert.equal(mine.at(-1), 'END_REQUEST');
    conn.close();
  } finally {
    asIs.kill('SIGKILL');
    pool.kill('SIGTERM');
  }
});

test("defect 2's consequence, cgi-fcgi's EPIPE: node-fastcgi resets a connection the client still writes to; the worker path reads on after its FIN", async () => {
  const asIs = await startTestApp({ mode: 'as-is' });
  const pool = await startTestApp({ mode: 'pool' });
  try {
    // cgi-fcgi's order: BEGIN_REQUEST and PARAMS, read the answer, then the (empty) FCGI_STDIN.
    const lateStdinFailures = async (address) => {
      let failed = 0;
      for (let i = 0; i < 5; i++) {
        const conn = await RawConnection.open(address);
        await conn.write(request(1, { stdinEnd: false }));
        assert.equal((await conn.response(1)).status, 200);
        await sleep(50); // node-fastcgi has closed by now; the worker path waits for the request's end
        if (await conn.write(streamRecords(TYPE.STDIN, 1))) failed++;
        else await conn.until((c) => c.finReceived, 5_000, 'the FIN after the whole request is in');
        conn.close();
      }
      return failed;
    };
    assert.equal(await lateStdinFailures(asIs.address), 5, 'node-fastcgi: every late write fails (EPIPE)');
    assert.equal(await lateStdinFailures(pool.address), 0);

    // And cgi-fcgi itself (required by the suite: Debian's libfcgi-bin) exits 0 after a complete answer.
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await fcgiRequest(pool.address));
    assert.deepEqual(answers.map((a) => [a.code, a.status]), Array(10).fill([0, 200]), answers.map((a) => a.stderr).join(''));
  } finally {
    asIs.kill('SIGKILL');
    pool.kill('SIGTERM');
  }
});

test('defect 3: a record of unknown type kills node-fastcgi; the worker path answers FCGI_UNKNOWN_TYPE and serves on', async () => {
  const asIs = await startTestApp({ mode: 'as-is' });
  const pool = await startTestApp({ mode: 'pool' });
  try {
    let conn = await RawConnection.open(asIs.address);
    await conn.write(record(42, 0, Buffer.alloc(8)));
    const died = await asIs.exited;
    assert.notEqual(died.code, 0);
    assert.ok(asIs.lines.some((l) => /TypeError/.test(l)), `node-fastcgi: an uncaught TypeError\n${asIs.lines.join('\n')}`);
    conn.close();

    const [worker] = pool.lines.map((l) => /server \(pid (\d+)\) started/.exec(l)?.[1]).filter(Boolean).map(Number);
    // A request in flight on another connection must be answered all the same.
    const other = await RawConnection.open(pool.address);
    await other.write(request(1, { keepConn: true, params: { REQUEST_URI: '/?sleep=0.5' } }));
    conn = await RawConnection.open(pool.address);
    await conn.write(Buffer.concat([record(42, 0, Buffer.alloc(8)), record(200, 7, Buffer.from('xyz'), 5)]));
    await conn.until((c) => c.records.length >= 2, 5_000, 'two FCGI_UNKNOWN_TYPE');
    assert.deepEqual(
      conn.records.map((r) => [r.typeName, r.requestId, r.content[0], r.content.length]),
      [
        ['UNKNOWN_TYPE', 0, 42, 8],
        ['UNKNOWN_TYPE', 0, 200, 8],
      ],
    );
    await conn.write(request(3, { keepConn: true }));
    assert.equal((await conn.response(3)).status, 200, 'the same connection serves on');
    assert.equal((await other.response(1)).status, 200, 'the request in flight elsewhere is answered');
    assert.ok(isAlive(worker));
    assert.equal(pool.count(/exited/), 0);
    conn.close();
    other.close();
  } finally {
    pool.kill('SIGTERM');
  }
});

test('defect 4, multiplex: false: node-fastcgi ignores it; the worker path refuses a second request with FCGI_CANT_MPX_CONN', async () => {
  const env = { FCGI_TEST_MULTIPLEX: '0' };
  const asIs = await startTestApp({ mode: 'as-is', env });
  const pool = await startTestApp({ mode: 'pool', env });
  try {
    const two = Buffer.concat([
      request(1, { keepConn: true, params: { REQUEST_URI: '/?sleep=0.3' } }),
      request(2, { keepConn: true }),
    ]);
    let conn = await RawConnection.open(asIs.address);
    await conn.write(two);
    await conn.until((c) => c.endOf(2) || c.endedState, 3_000).catch(() => {});
    assert.notEqual(conn.answer(2).end?.protocolStatus, STATUS.CANT_MPX_CONN, 'node-fastcgi does not refuse');
    assert.equal(conn.answer(2).status, 200, 'node-fastcgi runs both at once');
    conn.close();

    conn = await RawConnection.open(pool.address);
    await conn.write(two);
    assert.deepEqual((await conn.response(2)).end, { appStatus: 1, protocolStatus: STATUS.CANT_MPX_CONN });
    assert.equal((await conn.response(1)).status, 200);
    await conn.write(getValues(['FCGI_MPXS_CONNS']));
    await conn.until((c) => c.records.some((r) => r.type === TYPE.GET_VALUES_RESULT), 3_000, 'FCGI_GET_VALUES_RESULT');
    const result = conn.records.find((r) => r.type === TYPE.GET_VALUES_RESULT);
    assert.deepEqual(parseNameValuePairs(result.content), { FCGI_MPXS_CONNS: '0' });
    conn.close();
  } finally {
    asIs.kill('SIGKILL');
    pool.kill('SIGTERM');
  }
});

test('FCGI_GET_VALUES reports what the worker path enforces: FCGI_MAX_REQS refuses with FCGI_OVERLOADED', async () => {
  const env = { FCGI_TEST_MAX_REQS: '1', FCGI_TEST_LOG_REQUESTS: '1' };
  const asIs = await startTestApp({ mode: 'as-is', env });
  const pool = await startTestApp({ mode: 'pool', env });
  try {
    const ask = async (address) => {
      const conn = await RawConnection.open(address);
      await conn.write(getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS', 'NO_SUCH_VARIABLE']));
      await conn.until((c) => c.records.length > 0, 3_000, 'FCGI_GET_VALUES_RESULT');
      conn.close();
      return parseNameValuePairs(conn.records[0].content);
    };
    assert.deepEqual(await ask(pool.address), { FCGI_MAX_CONNS: '2000', FCGI_MAX_REQS: '1', FCGI_MPXS_CONNS: '1' });

    // Two requests at once on two connections, with FCGI_MAX_REQS 1.
    const overload = async (app) => {
      const a = await RawConnection.open(app.address);
      const b = await RawConnection.open(app.address);
      const started = app.waitForNext(/^request started: \/\?sleep=1 /);
      await a.write(request(1, { keepConn: true, params: { REQUEST_URI: '/?sleep=1' } }));
      await started; // the first request is in flight
      await b.write(request(1, { keepConn: true }));
      const answers = [await a.response(1), await b.response(1)];
      a.close();
      b.close();
      return answers;
    };
    const [asIsFirst, asIsSecond] = await overload(asIs);
    assert.equal(asIsFirst.status, 200);
    assert.equal(asIsSecond.status, 200, 'node-fastcgi reports FCGI_MAX_REQS 1 but serves two at once');
    const [first, second] = await overload(pool);
    assert.equal(first.status, 200);
    assert.deepEqual(second.end, { appStatus: 1, protocolStatus: STATUS.OVERLOADED });
  } finally {
    asIs.kill('SIGKILL');
    pool.kill('SIGTERM');
  }
});

test('a role the application does not handle gets FCGI_UNKNOWN_ROLE, also under ProcManager', async () => {
  const asIs = await startTestApp({ mode: 'pool-as-is' });
  const pool = await startTestApp({ mode: 'pool' });
  try {
    const authorize = async (address) => {
      const conn = await RawConnection.open(address);
      await conn.write(request(1, { role: ROLE.AUTHORIZER, keepConn: true }));
      await conn.until((c) => c.endOf(1) || c.endedState || c.finReceived, 1_000).catch(() => {});
      const seen = { records: conn.records.map((r) => `${r.typeName}#${r.requestId}`), open: !conn.finReceived && !conn.endedState, end: conn.answer(1).end };
      conn.close();
      return seen;
    };
    const served = async (address) => {
      const conn = await RawConnection.open(address);
      await conn.write(request(1));
      const answer = await conn.response(1);
      conn.close();
      return answer.status;
    };
    // The worker's own bookkeeping listens for every role: node-fastcgi takes it for a handler and
    // leaves the request unanswered: not a record comes back, the connection stays open, and the
    // application is alive and answers a responder request all the while.
    assert.deepEqual(await authorize(asIs.address), { records: [], open: true, end: undefined });
    assert.equal(await served(asIs.address), 200);
    // The worker path refuses it at once, and keeps the connection, as FCGI_KEEP_CONN asks.
    const refused = { records: ['END_REQUEST#1'], open: true, end: { appStatus: 1, protocolStatus: STATUS.UNKNOWN_ROLE } };
    assert.deepEqual(await authorize(pool.address), refused);
  } finally {
    asIs.kill('SIGTERM');
    pool.kill('SIGTERM');
  }
});

test('the worker path applies to the node-fastcgi copy that made the server, and only to the version it was checked against', async () => {
  // Two private copies of node-fastcgi (with fastcgi-stream and bufferlist), one of them relabelled 2.0.1.
  const dir = tempDir();
  for (const [name, version] of [['checked', '2.0.0'], ['other', '2.0.1']]) {
    const modules = path.join(dir, name, 'node_modules');
    for (const pkg of ['node-fastcgi', 'fastcgi-stream', 'bufferlist']) {
      fs.cpSync(path.join(ROOT, 'node_modules', pkg), path.join(modules, pkg), { recursive: true });
    }
    const pkgFile = path.join(modules, 'node-fastcgi', 'package.json');
    fs.writeFileSync(pkgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(pkgFile, 'utf8')), version }));
    fs.writeFileSync(
      path.join(dir, name, 'app.js'),
      `const fcgi = require('node-fastcgi');
       const { ProcManager } = require(${JSON.stringify(ROOT)});
       const pm = new ProcManager({ n_processes: 0, listen: process.argv[2] });
       pm.manage().then(async () => {
         for (const sock of [process.argv[2], process.argv[2] + '2']) {
           const server = fcgi.createServer((req, res) => res.end('hi'));
           if (sock !== process.argv[2]) await new Promise((resolve) => server.listen(sock, resolve));
           await pm.attach(server);
         }
         console.error('attached');
       });`,
    );
  }
  const keptAfterOne = async (name) => {
    const address = path.join(dir, `${name}.sock`);
    const app = startNode({ script: path.join(dir, name, 'app.js'), args: [address], cwd: path.join(dir, name) });
    await app.waitFor(/attached/);
    const conn = await RawConnection.open(address);
    await conn.write(request(1, { keepConn: true }));
    await conn.response(1);
    await sleep(200);
    conn.close();
    app.kill('SIGKILL');
    return { kept: !conn.finReceived && conn.endedState === undefined, lines: app.lines };
  };
  const checked = await keptAfterOne('checked');
  assert.ok(checked.kept, 'the application’s own copy, 2.0.0: worker path');
  assert.ok(!checked.lines.some((l) => /worker path not applied/.test(l)));
  const other = await keptAfterOne('other');
  assert.ok(!other.kept, 'node-fastcgi 2.0.1: left as it is');
  const warnings = other.lines.filter((l) => /worker path not applied/.test(l));
  assert.equal(warnings.length, 1, `one warning line for two servers:\n${other.lines.join('\n')}`);
  assert.match(warnings[0], /node-fastcgi 2\.0\.1 .* is not 2\.0\.0/);
});

/** A response head without node:http's implicit Date and Connection lines. */
function withoutImplicitHeaders(head) {
  return head.split('\r\n').filter((line) => !/^(Date|Connection):/i.test(line)).join('\r\n');
}

test('the same application code sees the same request and writes the same answer on both paths', async () => {
  const asIs = await startTestApp({ mode: 'as-is' });
  const pool = await startTestApp({ mode: 'pool' });
  try {
    const params = {
      REQUEST_METHOD: 'POST',
      REQUEST_URI: '/form?echo=1&x=%C3%A9',
      QUERY_STRING: 'echo=1&x=%C3%A9',
      SCRIPT_NAME: '/form',
      SERVER_PROTOCOL: 'HTTP/1.0',
      REMOTE_ADDR: '10.1.2.3',
      REMOTE_PORT: '54321',
      SERVER_ADDR: '::1',
      SERVER_PORT: '8080',
      CONTENT_TYPE: 'text/plain',
      CONTENT_LENGTH: '11',
      HTTP_HOST: 'example.test',
      HTTP_CONTENT_TYPE: 'ignored/by-node-fastcgi',
      HTTP_X_MANY_PARTS_HERE: 'v1',
      HTTP_COOKIE: 'a=1; b=2',
      HTTP_USER_AGENT: 'raw "client" é',
      EMPTY: '',
      LONG: 'L'.repeat(300),
    };
    const ask = async (address) => {
      const conn = await RawConnection.open(address);
      await conn.write(request(1, { params, stdin: 'hello world' }));
      const answer = await conn.response(1);
      conn.close();
      return answer;
    };
    const [expected, actual] = [await ask(asIs.address), await ask(pool.address)];
    assert.equal(expected.status, 201, expected.stdout.toString());
    assert.deepEqual(JSON.parse(actual.body), JSON.parse(expected.body));
    // The one difference: node-fastcgi passes on node:http's implicit Date and Connection, which
    // the worker path leaves to the web server (test/peers/fastcgi-webservers.test.js).
    assert.match(expected.head, /^Date: .*\r\nConnection: close$/m);
    assert.equal(actual.head, withoutImplicitHeaders(expected.head), 'the same status line and headers');
    assert.equal(actual.body, expected.body);
    assert.match(actual.body, /"body":"hello world"/);
  } finally {
    asIs.kill('SIGKILL');
    pool.kill('SIGTERM');
  }
});

test("node-fastcgi's authorizer and filter roles work on both paths alike", async () => {
  const env = { FCGI_TEST_ROLES: '1' };
  const asIs = await startTestApp({ mode: 'as-is', env });
  const pool = await startTestApp({ mode: 'pool', env });
  try {
    const roles = async (address) => {
      const conn = await RawConnection.open(address);
      await conn.write(request(1, { role: ROLE.AUTHORIZER, params: { HTTP_X_TOKEN: 'open' } }));
      const allowed = await conn.response(1);
      conn.close();
      const conn2 = await RawConnection.open(address);
      await conn2.write(request(2, { role: ROLE.AUTHORIZER }));
      const denied = await conn2.response(2);
      conn2.close();
      const conn3 = await RawConnection.open(address);
      await conn3.write(Buffer.concat([request(3, { role: ROLE.FILTER, stdin: 'in' }), streamRecords(TYPE.DATA, 3, 'file body')]));
      const filtered = await conn3.response(3);
      conn3.close();
      return [allowed.head, denied.status, filtered.body];
    };
    const [asIsAnswers, actual] = [await roles(asIs.address), await roles(pool.address)];
    // node-fastcgi passes on node:http's implicit Date and Connection; the worker path does not.
    const expected = [withoutImplicitHeaders(asIsAnswers[0]), ...asIsAnswers.slice(1)];
    assert.match(expected[0], /^Status: 200 OK/);
    assert.match(expected[0], /Variable-USER: alice/);
    assert.equal(expected[1], 403);
    assert.equal(expected[2], 'stdin=in data=FILE BODY\n');
    assert.deepEqual(actual, expected);
  } finally {
    asIs.kill('SIGKILL');
    pool.kill('SIGTERM');
  }
});

test('a name-value pair split across two FCGI_PARAMS records: node-fastcgi garbles it; the worker path decodes the stream whole', async () => {
  const asIs = await startTestApp({ mode: 'as-is' });
  const pool = await startTestApp({ mode: 'pool' });
  try {
    const uri = '/split?echo=1&long=' + 'x'.repeat(200);
    const pairs = nameValuePairs({ REQUEST_METHOD: 'GET', REQUEST_URI: uri, SERVER_PROTOCOL: 'HTTP/1.1' });
    const cut = pairs.indexOf('/split') + 20; // inside the value of REQUEST_URI: '/split?echo=1&long=x' | 'xxx…'
    const bytes = Buffer.concat([
      beginRequest(1),
      record(TYPE.PARAMS, 1, pairs.subarray(0, cut)),
      record(TYPE.PARAMS, 1, pairs.subarray(cut)),
      record(TYPE.PARAMS, 1),
      streamRecords(TYPE.STDIN, 1),
    ]);
    const urlSeen = async (address) => {
      const conn = await RawConnection.open(address);
      await conn.write(bytes);
      await conn.until((c) => c.endOf(1) || c.endedState || c.finReceived, 3_000).catch(() => {});
      conn.close();
      const answer = conn.answer(1);
      if (answer.status !== 201) return `status ${answer.status}`;
      const { url, cgiParams } = JSON.parse(answer.body);
      return { url, params: Object.keys(cgiParams).length, protocol: cgiParams.SERVER_PROTOCOL };
    };
    // node-fastcgi decodes each record on its own: the value is cut where the record ends, and the
    // rest of the stream (the value's tail, then SERVER_PROTOCOL) is decoded as one garbage pair.
    assert.deepEqual(await urlSeen(asIs.address), { url: '/split?echo=1&long=x', params: 3, protocol: undefined });
    assert.deepEqual(await urlSeen(pool.address), { url: uri, params: 3, protocol: 'HTTP/1.1' });
  } finally {
    asIs.kill('SIGKILL');
    pool.kill('SIGTERM');
  }
});
