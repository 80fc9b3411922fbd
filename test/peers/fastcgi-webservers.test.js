'use strict';
// The worker path's answers carry no hop-by-hop headers of node:http's making. Apache's
// mod_proxy_fcgi and lighttpd pass a backend's `Connection: close` on to the client and close the
// client's keep-alive connection after every response (nginx drops it), so:
// - through a real lighttpd (mod_fastcgi) and a real Apache 2.4 (mod_proxy_fcgi) in front of
//   examples/hello.js, two requests from one client go over one client connection;
// - in the raw FastCGI bytes, no Connection, Keep-Alive, Transfer-Encoding or Date appears that the
//   application did not set, however it answers;
// - an application that sets them itself still gets them sent.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { startHello, livePids, pidOf } = require('../helpers/helpers');
const { RawConnection, request, ROLE } = require('../helpers/fcgi-raw-client');
const { startWebServer, get, lighttpdSkip, apacheSkip } = require('../helpers/webservers');

const HEADERS_APP = path.join(__dirname, '..', 'fixtures', 'headers-app.js');
const IMPLICIT = ['connection', 'keep-alive', 'transfer-encoding', 'date'];

/** Stops the app (TERM to the manager's pid) and waits for it to exit. */
async function stopApp(app) {
  app.kill('SIGTERM');
  await app.exited;
}

/**
 * hello.js behind `kind`: two GETs through a keep-alive agent limited to one socket, from a client
 * that sends no Connection header (HTTP/1.1's default persistence, as curl and wrk), then from one
 * that sends `Connection: keep-alive` (as browsers do). Each client's second request must go out
 * on its first one's connection.
 */
async function twoRequestsOnOneConnection(kind) {
  const app = await startHello({ n: 2 });
  let web;
  const agents = [];
  try {
    web = await startWebServer(kind, app.address);
    for (const connectionHeader of [false, true]) {
      const client = connectionHeader ? 'client with Connection: keep-alive' : 'client without a Connection header';
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      const first = await get(agent, web.port, '/', { connectionHeader });
      const second = await get(agent, web.port, '/?again=1', { connectionHeader });
      const workers = livePids(app);
      for (const [which, r] of [['first', first], ['second', second]]) {
        assert.equal(r.status, 200, `${client}, ${which} answer: ${r.status} ${r.body}`);
        assert.match(r.body, /^pid=\d+\n$/, `${client}, ${which} answer is hello.js's`);
        assert.ok(workers.includes(pidOf(r)), `${client}, ${which} answer from a worker of this pool: ${r.body.trim()} not in ${workers}`);
        assert.doesNotMatch(String(r.headers.connection ?? ''), /close/i, `${client}, ${which} answer: Connection: ${r.headers.connection}`);
      }
      assert.equal(first.reusedSocket, false, client);
      assert.equal(second.reusedSocket, true, `${client}: the second request reused the first one's connection (${kind} closed it after the first answer)`);
      assert.equal(second.socket, first.socket, client);
    }
  } finally {
    for (const agent of agents) agent.destroy();
    await web?.stop();
    await stopApp(app);
  }
}

test('lighttpd (mod_fastcgi) keeps the client connection: two requests to hello.js over one connection', { skip: lighttpdSkip }, async () => {
  await twoRequestsOnOneConnection('lighttpd');
});

test('Apache 2.4 (mod_proxy_fcgi) keeps the client connection: two requests to hello.js over one connection', { skip: apacheSkip }, async () => {
  await twoRequestsOnOneConnection('apache');
});

/** The header lines of a raw FastCGI answer: [[lower-case name, value], ...]. */
function headerLines(answer) {
  return answer.head
    .split('\r\n')
    .filter(Boolean)
    .map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    });
}

/** Sends each case as its own request on one kept connection; resolves with [{ case, answer }]. */
async function askEach(address, cases) {
  const conn = await RawConnection.open(address);
  try {
    const out = [];
    let id = 0;
    for (const c of cases) {
      id++;
      const query = c.query ?? '';
      const params = { REQUEST_URI: `/?${query}`, QUERY_STRING: query, ...c.params };
      await conn.write(request(id, { keepConn: true, role: c.role, params }));
      const answer = await conn.response(id);
      assert.ok(answer.end, `${c.name}: FCGI_END_REQUEST; got ${conn.describe()}`);
      assert.equal(answer.end.protocolStatus, 0, `${c.name}: FCGI_REQUEST_COMPLETE`);
      out.push({ c, answer });
    }
    return out;
  } finally {
    conn.close();
  }
}

test('the FastCGI answer carries no Connection, Keep-Alive, Transfer-Encoding or Date of its own, however the app answers', async () => {
  const keepAlive = { HTTP_CONNECTION: 'keep-alive' };
  const hello = await startHello({ n: 1 });
  try {
    const results = await askEach(hello.address, [
      { name: 'hello.js, client Connection: keep-alive', params: keepAlive },
      { name: 'hello.js, client Connection: close', params: { HTTP_CONNECTION: 'close' } },
      { name: 'hello.js, no Connection header', params: {} },
      { name: 'hello.js, HTTP/1.0', params: { SERVER_PROTOCOL: 'HTTP/1.0', ...keepAlive } },
      { name: 'hello.js, HEAD', params: { REQUEST_METHOD: 'HEAD', ...keepAlive } },
    ]);
    for (const { c, answer } of results) {
      assert.equal(answer.status, 200, `${c.name}: ${answer.head}`);
      const names = headerLines(answer).map(([name]) => name);
      for (const name of IMPLICIT) assert.ok(!names.includes(name), `${c.name}: no ${name} header in\n${answer.head}`);
    }
  } finally {
    await stopApp(hello);
  }

  const app = await startHello({ script: HEADERS_APP, n: 1 });
  try {
    const cases = [];
    for (const how of ['writehead', 'end', 'write']) {
      cases.push({ name: `how=${how}`, query: `how=${how}`, params: keepAlive, body: true });
      cases.push({ name: `how=${how}, HTTP/1.0`, query: `how=${how}`, params: { SERVER_PROTOCOL: 'HTTP/1.0' }, body: true });
      cases.push({ name: `how=${how}, Connection: close`, query: `how=${how}`, params: { HTTP_CONNECTION: 'close' }, body: true });
    }
    cases.push({ name: 'status 204', query: 'status=204', params: keepAlive, status: 204 });
    cases.push({ name: 'status 304', query: 'status=304&how=end', params: keepAlive, status: 304 });
    cases.push({ name: 'authorizer allow()', role: ROLE.AUTHORIZER, params: keepAlive });
    for (const { c, answer } of await askEach(app.address, cases)) {
      assert.equal(answer.status, c.status ?? 200, `${c.name}: ${answer.head}`);
      const names = headerLines(answer).map(([name]) => name);
      for (const name of IMPLICIT) assert.ok(!names.includes(name), `${c.name}: no ${name} header in\n${answer.head}`);
      // Without Transfer-Encoding, the body is not chunk-framed either.
      if (c.body) assert.match(answer.body, /^pid=\d+\n$/, `${c.name}: body ${JSON.stringify(answer.body)}`);
    }
  } finally {
    await stopApp(app);
  }
});

/** A chunked body, decoded; throws unless it is whole chunks ending with the empty one. */
function decodeChunked(body) {
  let decoded = '';
  let rest = body;
  for (;;) {
    const m = /^([0-9a-f]+)\r\n/.exec(rest);
    if (!m) throw new Error(`not a chunk: ${JSON.stringify(rest)}`);
    const size = parseInt(m[1], 16);
    const data = rest.slice(m[0].length, m[0].length + size);
    if (rest.slice(m[0].length + size, m[0].length + size + 2) !== '\r\n') throw new Error(`a chunk without its CRLF: ${JSON.stringify(rest)}`);
    rest = rest.slice(m[0].length + size + 2);
    if (size === 0) {
      if (rest !== '') throw new Error(`bytes after the last chunk: ${JSON.stringify(rest)}`);
      return decoded;
    }
    decoded += data;
  }
}

test('an app that sets Connection, Keep-Alive, Transfer-Encoding or Date itself still sends them', async () => {
  const date = 'Sun, 06 Nov 1994 08:49:37 GMT';
  const app = await startHello({ script: HEADERS_APP, n: 1 });
  try {
    const cases = [
      { name: 'setHeader Connection: close', query: 'set=Connection:close', expect: { connection: 'close' } },
      { name: 'setHeader Connection: close, how=end', query: 'set=Connection:close&how=end', expect: { connection: 'close' } },
      { name: 'writeHead Connection: keep-alive', query: 'head=Connection:keep-alive', expect: { connection: 'keep-alive' } },
      {
        name: 'Connection and Keep-Alive',
        query: `set=Connection:keep-alive&set=Keep-Alive:${encodeURIComponent('timeout=5, max=100')}`,
        expect: { connection: 'keep-alive', 'keep-alive': 'timeout=5, max=100' },
      },
      { name: 'setHeader Date', query: `set=Date:${encodeURIComponent(date)}`, expect: { date } },
      { name: 'writeHead Date', query: `head=Date:${encodeURIComponent(date)}`, expect: { date } },
      { name: 'res.sendDate = true', query: 'senddate=1', expect: { date: /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/ } },
      { name: 'Transfer-Encoding: chunked', query: 'how=write&set=Transfer-Encoding:chunked', expect: { 'transfer-encoding': 'chunked' }, chunked: true },
    ];
    for (const { c, answer } of await askEach(app.address, cases.map((c) => ({ ...c, params: { HTTP_CONNECTION: 'keep-alive' } })))) {
      assert.equal(answer.status, 200, `${c.name}: ${answer.head}`);
      const lines = headerLines(answer);
      for (const [name, value] of Object.entries(c.expect)) {
        const found = lines.filter(([n]) => n === name).map(([, v]) => v);
        assert.equal(found.length, 1, `${c.name}: one ${name} header in\n${answer.head}`);
        if (value instanceof RegExp) assert.match(found[0], value, `${c.name}: ${name}`);
        else assert.equal(found[0], value, `${c.name}: ${name}`);
      }
      // The app's own framing is applied as it asked: chunks, with the terminating empty chunk. Where the
      // chunks fall is node:http's choice (Node 24 joins two writes of one tick), so the body is decoded.
      if (c.chunked) assert.match(decodeChunked(answer.body), /^pid=\d+\n$/, `${c.name}: body ${JSON.stringify(answer.body)}`);
      else assert.match(answer.body, /^pid=\d+\n$/, `${c.name}: body`);
      // Nothing else of node:http's own: the header the app did not set stays out.
      for (const name of IMPLICIT) {
        if (!(name in c.expect)) assert.ok(!lines.some(([n]) => n === name), `${c.name}: no ${name} header in\n${answer.head}`);
      }
    }
  } finally {
    await stopApp(app);
  }
});
