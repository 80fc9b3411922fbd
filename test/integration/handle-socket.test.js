'use strict';
// HandleSocket (src/socket/handle-socket.ts): a connection served on its libuv handle, without
// net.Socket. Real unix sockets in this process, a net.Socket client on the other end: each part of
// net.Socket's meaning the worker path relies on (data as it comes, write callbacks, cork/uncork
// into one writev, end = FIN after the writes, the peer's FIN, destroy, errors, pause/resume,
// setTimeout, the server's connection count), and the fallback when the internals are not used.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { tempDir, livePids } = require('../helpers/helpers');
const { startTestApp, RawConnection, request } = require('../helpers/fcgi-raw-client');
const { HandleSocket } = require('../../dist/socket/handle-socket');
const { acceptOnHandles } = require('../../dist/socket/accept-on-handle');
const { streamInternals } = require('../../dist/socket/stream-handle');

/** A server accepting HandleSockets, and a client connected to it: { server, socket, client }. */
async function connectedPair() {
  const internals = streamInternals();
  assert.equal(typeof internals, 'object', `the internals load on this Node: ${internals}`);
  const server = net.createServer();
  const cannot = [];
  acceptOnHandles(server, internals, (why) => cannot.push(why));
  const address = path.join(tempDir(), 's.sock');
  await new Promise((resolve) => server.listen(address, resolve));
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  const client = net.connect(address);
  await new Promise((resolve) => client.once('connect', resolve));
  const socket = await accepted;
  assert.deepEqual(cannot, []);
  return { server, socket, client };
}

const once = (emitter, event) => new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));

function readAll(client) {
  return new Promise((resolve) => {
    const chunks = [];
    client.on('data', (d) => chunks.push(d));
    client.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

test('handle socket: accepted as a HandleSocket; data arrives as sent; a write reaches the peer, its callback after write() returns', async () => {
  const { server, socket, client } = await connectedPair();
  assert.ok(socket instanceof HandleSocket);
  const got = once(socket, 'data');
  client.write('hello');
  const [chunk] = await got;
  assert.equal(chunk.toString(), 'hello');
  assert.equal(socket.bytesRead, 5);
  let returned = false;
  const written = new Promise((resolve) => socket.write(Buffer.from('world'), () => resolve(returned)));
  returned = true;
  assert.equal(await written, true, 'the callback never runs from within write()');
  const [answer] = await once(client, 'data');
  assert.equal(answer.toString(), 'world');
  assert.equal(socket.bytesWritten, 5);
  client.destroy();
  await once(socket, 'close');
  server.close();
});

test('handle socket: corked writes leave in one writev, in order; end() sends the FIN after them; the peer closing then closes the socket', async () => {
  const { server, socket, client } = await connectedPair();
  const all = readAll(client);
  const calls = [];
  socket.cork();
  for (let i = 0; i < 5; i++) socket.write(Buffer.from(`part${i};`), () => calls.push(i));
  assert.ok(socket.writableLength >= 30, 'corked bytes count as not yet written');
  socket.uncork();
  socket.end();
  assert.equal(socket.writableEnded, true);
  assert.equal((await all).toString(), 'part0;part1;part2;part3;part4;');
  assert.deepEqual(calls, [0, 1, 2, 3, 4]);
  const closed = once(socket, 'close');
  client.end();
  const [hadError] = await closed;
  assert.equal(hadError, false);
  assert.equal(socket.destroyed, true);
  server.close();
});

test("handle socket: a large write backs up (writableLength, then 'drain'); the peer gets every byte", async () => {
  const { server, socket, client } = await connectedPair();
  client.pause();
  const big = Buffer.alloc(8 * 1024 * 1024, 7);
  let done = false;
  socket.write(big, () => (done = true));
  assert.ok(socket.writableLength > 0, `the kernel did not take 8 MiB at once (${socket.writableLength} queued)`);
  const drained = once(socket, 'drain');
  const all = readAll(client);
  client.resume();
  await drained;
  assert.equal(done, true);
  socket.end();
  assert.equal((await all).length, big.length);
  client.destroy();
  server.close();
});

test("handle socket: the peer's FIN with writes still queued: they go out first, then the socket closes (net.Socket without allowHalfOpen)", async () => {
  const { server, socket, client } = await connectedPair();
  client.pause();
  let ended = false;
  socket.on('end', () => (ended = true));
  const closed = once(socket, 'close');
  socket.write(Buffer.alloc(4 * 1024 * 1024, 1));
  const all = readAll(client);
  client.end(); // our side sees EOF while our 4 MiB are still queued
  await new Promise((resolve) => setTimeout(resolve, 50));
  client.resume();
  assert.equal((await all).length, 4 * 1024 * 1024);
  await closed;
  assert.equal(ended, true);
  server.close();
});

test("handle socket: destroy() closes at once ('close', no error); destroy(err) emits 'error' first; writes after it are refused with their callback", async () => {
  const { server, socket, client } = await connectedPair();
  const events = [];
  socket.on('error', (err) => events.push(`error ${err.message}`));
  socket.on('close', (hadError) => events.push(`close ${hadError}`));
  socket.destroy(new Error('boom'));
  await once(client, 'close');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(events, ['error boom', 'close true']);
  const refusedCallback = new Promise((resolve) => assert.equal(socket.write(Buffer.from('x'), resolve), false));
  await refusedCallback; // called all the same, so that a writer waiting on it goes on
  server.close();
});

test("handle socket: writing to a peer that is gone is an 'error' (EPIPE or ECONNRESET), then 'close'", async () => {
  const { server, socket, client } = await connectedPair();
  socket.pause(); // else its EOF comes first, and closes it quietly (as net.Socket's does)
  client.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const failed = once(socket, 'error');
  const closed = once(socket, 'close');
  for (let i = 0; i < 5 && !socket.destroyed; i++) {
    socket.write(Buffer.alloc(1024));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const [err] = await failed;
  assert.match(err.code, /^(EPIPE|ECONNRESET)$/);
  await closed;
  server.close();
});

test('handle socket: pause() stops the reads (the bytes wait in the kernel), resume() delivers them', async () => {
  const { server, socket, client } = await connectedPair();
  const chunks = [];
  socket.on('data', (d) => chunks.push(d.toString()));
  socket.pause();
  client.write('held');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(chunks, []);
  socket.resume();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(chunks, ['held']);
  client.destroy();
  server.close();
});

test("handle socket: setTimeout emits 'timeout' after that long without traffic; the server counts the connection until it closes", async () => {
  const { server, socket, client } = await connectedPair();
  const count = () => new Promise((resolve) => server.getConnections((err, n) => resolve(n)));
  assert.equal(await count(), 1);
  const began = Date.now();
  socket.setTimeout(150);
  await once(socket, 'timeout');
  assert.ok(Date.now() - began >= 140);
  socket.destroy();
  await once(socket, 'close');
  assert.equal(await count(), 0);
  const closed = once(server, 'close');
  server.close();
  await closed; // net's 'close' waits for the connections: counted down on our close
  client.destroy();
});

test('handle socket: end() while corked, when the corked writev fails (peer gone), destroys the socket instead of throwing', async () => {
  const { server, socket, client } = await connectedPair();
  socket.pause(); // its EOF would close it quietly first
  client.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const failed = once(socket, 'error');
  let called = false;
  socket.cork();
  socket.write(Buffer.alloc(1024), () => (called = true));
  assert.doesNotThrow(() => socket.end());
  const [err] = await failed;
  assert.match(err.code, /^(EPIPE|ECONNRESET)$/);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(called, true, 'the corked write got its callback');
  assert.equal(socket.destroyed, true);
  server.close();
});

test("handle socket: setTimeout(0, callback) turns the timeout off and takes that callback away, as net.Socket's does", async () => {
  const { server, socket, client } = await connectedPair();
  let fired = 0;
  const callback = () => fired++;
  socket.setTimeout(50, callback);
  socket.setTimeout(0, callback);
  assert.equal(socket.listenerCount('timeout'), 0);
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.equal(fired, 0);
  client.destroy();
  server.close();
});

test('handle socket: FCGI_PM_NO_RAW_HANDLE=1 makes the internals unavailable, with the reason', () => {
  const out = spawnSync(process.execPath, ['-e', "console.log(require('./dist/socket/stream-handle').streamInternals())"], {
    cwd: path.join(__dirname, '..', '..'),
    env: { ...process.env, FCGI_PM_NO_RAW_HANDLE: '1' },
    encoding: 'utf8',
  });
  assert.equal(out.stdout.trim(), 'FCGI_PM_NO_RAW_HANDLE=1');
});

const PUBLIC_PATH_LINE = /connections served through net\.Socket, not on their handles: (.*)$/;

for (const variant of [
  { name: 'on their handles', env: {}, connection: 'HandleSocket', lines: 0 },
  { name: 'through net.Socket (FCGI_PM_NO_RAW_HANDLE=1)', env: { FCGI_PM_NO_RAW_HANDLE: '1' }, connection: 'Socket', lines: 1, why: 'FCGI_PM_NO_RAW_HANDLE=1' },
  { name: 'on their handles under --no-deprecation', env: { NODE_OPTIONS: '--no-deprecation' }, connection: 'HandleSocket', lines: 0 },
  // process.binding's DEP0111 would be thrown on a later tick and kill every worker.
  {
    name: 'through net.Socket under --pending-deprecation --throw-deprecation',
    env: { NODE_OPTIONS: '--pending-deprecation --throw-deprecation' },
    connection: 'Socket',
    lines: 1,
    why: 'process.binding is deprecated under --pending-deprecation (DEP0111)',
  },
  // Node's permission model: process.binding is refused, and posix-node's addon too (the manager then
  // uses its fallbacks). The Node 20 of the machine has it only as --experimental-permission; Node 26
  // also refuses the network unless --allow-net.
  {
    name: "through net.Socket under Node's permission model (--permission)",
    env: { NODE_OPTIONS: ['--permission --allow-fs-read=* --allow-fs-write=* --allow-child-process --allow-worker --no-warnings', ...(process.allowedNodeEnvironmentFlags.has('--allow-net') ? ['--allow-net'] : [])].join(' ') },
    connection: 'Socket',
    lines: 1,
    why: "process.binding is refused under Node's permission model (--permission)",
    skip: process.allowedNodeEnvironmentFlags.has('--permission') ? false : `Node ${process.version} has no --permission`,
  },
]) {
  test(`the worker path serves connections ${variant.name}: a kept connection, a large body each way, and a warning line only when net.Socket serves`, { skip: variant.skip ?? false }, async () => {
    const app = await startTestApp({ mode: 'pool', n: 2, env: variant.env });
    const conn = await RawConnection.open(app.address);
    await conn.write(request(1, { keepConn: true, params: { REQUEST_URI: '/?connection' } }));
    const first = await conn.response(1);
    assert.equal(first.status, 200);
    assert.match(first.body, new RegExp(`connection=${variant.connection}\\n`));
    // A body of 3 MiB in, 5 MiB out, on the same connection: backpressure both ways.
    const body = Buffer.alloc(3 * 1024 * 1024, 5);
    await conn.write(request(2, { keepConn: true, params: { REQUEST_URI: '/?body', REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }, stdin: body }));
    const posted = await conn.response(2);
    assert.match(posted.body, new RegExp(`length=${body.length} `));
    await conn.write(request(3, { keepConn: true, params: { REQUEST_URI: `/?bytes=${5 * 1024 * 1024}` } }));
    const large = await conn.response(3);
    assert.equal(large.status, 200);
    assert.equal(large.body.length, 5 * 1024 * 1024);
    conn.close();
    const workers = livePids(app);
    const lines = app.lines.filter((line) => PUBLIC_PATH_LINE.test(line));
    assert.equal(lines.length, variant.lines * workers.length, lines.join('\n'));
    for (const line of lines) assert.equal(PUBLIC_PATH_LINE.exec(line)[1], variant.why);
    assert.ok(!app.lines.some((l) => /DeprecationWarning|exited with status/.test(l)), app.lines.join('\n'));
    app.kill('SIGTERM');
    assert.equal((await app.exited).code, 0);
  });
}
