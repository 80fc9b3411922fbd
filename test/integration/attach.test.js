'use strict';
// attach() with what is not a node-fastcgi server: a node:http server, served by the pool on the
// manager's socket and stopped gracefully (idle keep-alive connections closed, the request in flight
// answered); and an invalid `fastcgi` option, refused before anything listens.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const fcgi = require('node-fastcgi');
const { ProcManager } = require('../..');
const { startNode, tempDir, livePids } = require('../helpers/helpers');
const { startTestApp, RawConnection, request } = require('../helpers/fcgi-raw-client');

const APP = path.join(__dirname, '..', 'fixtures', 'http-app.js');

async function startApp(n) {
  const address = path.join(tempDir(), 'http.sock');
  const app = startNode({ script: APP, args: [address, String(n)] });
  app.address = address;
  await app.waitFor(new RegExp(`ready: ${n} servers? accepting`));
  return app;
}

/** A GET over the unix socket; resolves with status, body and the socket it came on. */
function get(app, agent, urlPath = '/') {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: app.address, path: urlPath, agent, timeout: 20_000 }, (res) => {
      const socket = res.socket;
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, socket, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('attach() with a node:http server: the workers answer HTTP on the manager\'s socket', async () => {
  const app = await startApp(2);
  const agent = new http.Agent({ keepAlive: false });
  try {
    const workers = livePids(app);
    const pids = new Set();
    for (let i = 0; i < 20 && pids.size < 2; i++) {
      const res = await get(app, agent);
      assert.equal(res.status, 200);
      const pid = Number(/^http pid=(\d+)\n$/.exec(res.body)?.[1]);
      assert.ok(workers.includes(pid), `answered by a worker: ${res.body}`);
      pids.add(pid);
    }
    assert.equal(app.count(/worker path not applied/), 0, 'no warning for a node:http server');
  } finally {
    agent.destroy();
    app.kill('SIGTERM');
  }
});

test('TERM with node:http keep-alive connections: the request in flight is answered, idle connections are closed, and the worker exits without waiting for keepAliveTimeout', async () => {
  const app = await startApp(1);
  const [worker] = livePids(app);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  try {
    // Two keep-alive connections, both idle afterwards.
    const warm = await Promise.all([get(app, agent), get(app, agent)]);
    assert.deepEqual(warm.map((r) => r.status), [200, 200]);
    assert.notEqual(warm[0].socket, warm[1].socket, 'two connections');
    const closed = warm.map((r) => new Promise((resolve) => r.socket.once('close', resolve)));
    const inFlight = get(app, agent, '/?sleep=1');
    await app.waitFor(/^request started: \/\?sleep=1 /);
    app.kill('SIGTERM');
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.ok(warm.some((r) => r.socket === answer.socket), 'the request in flight came on one of the two');
    assert.equal(answer.body, `http pid=${worker}\n`);
    // keepAliveTimeout is 60 s: the bound below is far shorter, so the worker closed its idle connections itself.
    await app.waitFor(new RegExp(`server \\(pid ${worker}\\): safe exit after SIGTERM`), 20_000);
    assert.equal((await app.exited).code, 0);
    await Promise.all(closed); // both gone (the agent alone would have kept them)
  } finally {
    agent.destroy();
    if (app.child.exitCode === null && app.child.signalCode === null) app.kill('SIGKILL');
  }
});

test('attach() refuses an invalid `fastcgi` option with a TypeError, before it listens', async () => {
  const pm = new ProcManager({ n_processes: 0 });
  for (const fastcgi of ['bogus', '', 'worker_path', 1]) {
    const server = fcgi.createServer((req, res) => res.end('never'));
    await assert.rejects(pm.attach(server, { fastcgi }), {
      name: 'TypeError',
      message: `attach: fastcgi must be one of worker-path, as-is, got ${String(fastcgi)}`,
    });
    assert.equal(server.listening, false);
    // The node-fastcgi connection listener is still node-fastcgi's own: nothing was put under it.
    assert.deepEqual(server.listeners('connection').map((l) => l.name), ['connectionListener']);
  }
});

test("server.address() in a worker on a unix socket is the socket's path, as node:net gives it (Fastify logs it)", async () => {
  const app = await startTestApp({ mode: 'pool', n: 1 });
  try {
    const conn = await RawConnection.open(app.address);
    await conn.write(request(1, { params: { REQUEST_URI: '/?address=1' } }));
    const answer = await conn.response(1);
    conn.close();
    assert.match(answer.body, / address=(.*)\n$/);
    assert.equal(JSON.parse(/ address=(.*)\n$/.exec(answer.body)[1]), app.address);
  } finally {
    app.kill('SIGTERM');
  }
});
