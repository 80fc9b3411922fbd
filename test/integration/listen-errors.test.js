'use strict';
// Every bind or listen failure is reported with the address and the system's error, before anything
// forks, and nothing else is bound instead; every "listening on" line names what the socket is bound to.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { ROOT, startNode, startHello, tempDir, freePort, fcgiRequest, posixVariants, skipWithout } = require('../helpers/helpers');

const FAULTY = path.join(__dirname, '..', 'fixtures', 'faulty-app.js');
const START_SERVER = path.join(ROOT, 'bin', 'start_server.js');
const NOBODY = 65534;

/** A server in this process holding `host:port` (port 0: any free port); resolves with its port. */
function holdPort(host, port = 0) {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen({ host, port, exclusive: true }, () => resolve({ server, port: server.address().port }));
    server.on('error', reject);
  });
}

/**
 * Runs the main example against `listen`; resolves with its exit code and log once it exits, or
 * with code 'still running' (after killing it) if it is still up after 20 s.
 */
async function failedStart(listen, { env = {}, ...options } = {}) {
  const pm = startNode({ env: { PM_N_PROCESSES: '2', FCGI_LISTEN: listen, ...env }, ...options });
  let timer;
  const tooLong = new Promise((resolve) => (timer = setTimeout(() => resolve({ code: 'still running' }), 20_000)));
  const { code } = await Promise.race([pm.exited, tooLong]);
  clearTimeout(timer);
  if (code === 'still running') process.kill(-pm.pid, 'SIGKILL');
  return { code, log: pm.lines.join('\n'), pm };
}

function assertRefusedBeforeFork(result, pattern) {
  assert.equal(result.code, 2, result.log);
  assert.match(result.log, pattern);
  assert.doesNotMatch(result.log, /initialized|started|listening on/, 'nothing was forked or announced');
}

/** True if nothing listens on `port` of any address: we can take it on every address ourselves. */
async function portIsFree(port) {
  try {
    const { server } = await holdPort('::', port);
    await new Promise((resolve) => server.close(resolve));
    return true;
  } catch {
    return false;
  }
}

for (const { name: posix, env, skip } of posixVariants()) {

  test(`a TCP port another manager holds is refused with EADDRINUSE, nothing forks and no other port is bound, ${posix}`, { skip }, async () => {
    const first = await startHello({ n: 1, env: { ...env, FCGI_LISTEN: '127.0.0.1:0' } });
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(await first.waitFor(/listening on/))[1]);
    const second = await failedStart(`127.0.0.1:${port}`, { env });
    assertRefusedBeforeFork(second, new RegExp(`listen 127\\.0\\.0\\.1:${port}: EADDRINUSE \\(address already in use\\)`));
    first.kill('SIGTERM');
    await first.exited;
  });

  test(`a port another program holds, on IPv4, IPv6 and all addresses, is refused with EADDRINUSE, ${posix}`, { skip }, async () => {
    const v4 = await holdPort('127.0.0.1');
    const v6 = await holdPort('::1');
    const all = await holdPort('::');
    try {
      assertRefusedBeforeFork(await failedStart(`127.0.0.1:${v4.port}`, { env }), new RegExp(`listen 127\\.0\\.0\\.1:${v4.port}: EADDRINUSE`));
      assertRefusedBeforeFork(await failedStart(`[::1]:${v6.port}`, { env }), new RegExp(`listen \\[::1\\]:${v6.port}: EADDRINUSE`));
      assertRefusedBeforeFork(await failedStart(String(all.port), { env }), new RegExp(`listen \\*:${all.port}: EADDRINUSE`));
    } finally {
      for (const { server } of [v4, v6, all]) server.close();
    }
  });

  test(`start_server refuses a port in use with EADDRINUSE and exits non-zero, ${posix}`, { skip }, async () => {
    const held = await holdPort('127.0.0.1');
    try {
      const ss = startNode({ script: START_SERVER, args: [`--port=127.0.0.1:${held.port}`, '--', process.execPath, '-e', ''], env });
      const { code } = await ss.exited;
      const log = ss.lines.join('\n');
      assert.notEqual(code, 0, log);
      assert.match(log, new RegExp(`127\\.0\\.0\\.1:${held.port}: EADDRINUSE`));
      assert.doesNotMatch(log, /starting new worker/);
    } finally {
      held.server.close();
    }
  });
}

test('no such directory for a unix socket, and an address that is not this host, are refused before anything forks', async () => {
  assertRefusedBeforeFork(await failedStart('/nonexistent-dir-fcgi-pm/app.sock'), /listen unix:\/nonexistent-dir-fcgi-pm\/app\.sock: ENOENT \(no such file or directory\): no directory \/nonexistent-dir-fcgi-pm/);
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this host, so bind(2) fails; nothing is sent.
  assertRefusedBeforeFork(await failedStart('192.0.2.1:9000'), /listen 192\.0\.2\.1:9000: EADDRNOTAVAIL/);
  assertRefusedBeforeFork(await failedStart('127.0.0.1:70000'), /listen: port out of range/);
});

test('permission denied (a privileged port, a directory it may not write) is refused before anything forks', { skip: skipWithout(process.getuid?.() === 0, 'needs root, to start the manager as nobody') }, async () => {
  const cwd = tempDir();
  fs.chmodSync(cwd, 0o755); // readable by nobody; still not writable by it
  const asNobody = { uid: NOBODY, gid: NOBODY, cwd };
  assertRefusedBeforeFork(await failedStart('127.0.0.1:80', asNobody), /listen 127\.0\.0\.1:80: EACCES \(permission denied\)/);
  assertRefusedBeforeFork(await failedStart(path.join(cwd, 'app.sock'), asNobody), /listen unix:.*app\.sock: EACCES \(permission denied\)/);
});

test('with no socket at all, manage() refuses before forking and names the three ways to give one', async () => {
  const pm = startNode({ script: FAULTY, env: { PM_N_PROCESSES: '2', FCGI_LISTEN: '' } });
  const { code } = await pm.exited;
  const log = pm.lines.join('\n');
  assert.equal(code, 2, log);
  assert.match(log, /no socket to listen on; set the `listen` parameter .*listening socket on fd 0 .*start_server or systemd socket activation/);
  assert.doesNotMatch(log, /started|initialized/);
});

test('"listening on" names the address the socket is bound to, read back from it', async () => {
  const any = await startHello({ n: 1, env: { FCGI_LISTEN: '0' } });
  const line = await any.waitFor(/listening on/);
  const port = Number(/:(\d+)$/.exec(line)[1]);
  assert.match(line, /listening on (\[::\]|0\.0\.0\.0):\d+$/, 'the wildcard address the kernel bound, not the spec');
  assert.ok(port > 0);
  assert.equal(await portIsFree(port), false, 'that port is the one held');
  const local = await startHello({ n: 1, env: { FCGI_LISTEN: 'localhost:0' } });
  assert.match(await local.waitFor(/listening on/), /listening on (127\.0\.0\.1|\[::1\]):[1-9]\d*$/);
  for (const pm of [any, local]) pm.kill('SIGTERM');
  await Promise.all([any.exited, local.exited]);
});

test("an app's own server.listen(port) before or after attach() is taken over: the manager's socket serves, and the port is never bound", async () => {
  for (const when of ['before', 'after']) {
    const ownPort = await freePort();
    const pm = await startHello({ n: 1, script: FAULTY, env: { APP_LISTEN_ITSELF: when, APP_OWN_PORT: String(ownPort) } });
    await pm.waitFor(new RegExp(`server\\.listen\\(${ownPort}\\) taken over: (already )?accepting on the manager's socket instead`));
    await pm.waitFor(/app: listen callback/);
    const answer = await fcgiRequest(pm.address);
    assert.ok(answer.ok, `${when}: the manager's socket is served: ${answer.stdout}`);
    assert.equal(await portIsFree(ownPort), true, `${when}: nothing listens on the app's own port ${ownPort}`);
    pm.kill('SIGTERM');
    assert.equal((await pm.exited).code, 0);
  }
});
