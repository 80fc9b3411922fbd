'use strict';
// A listening socket inherited on fd 0 (FCGI_LISTENSOCK_FILENO), passed by spawn-fcgi as a web
// server would: it wins over FCGI_LISTEN, with posix-node and without it.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { HELLO, startNode, startHello, livePids, fcgiRequest, tempDir, eventually, have, skipWithout, freePort } = require('../helpers/helpers');

const FD_APP = path.join(__dirname, '..', 'fixtures', 'fd-app.js');
/** Runs `command` with an unbound, unconnected TCP socket on fd 3 (Perl makes one; Node cannot). */
const WITH_UNBOUND_SOCKET = [
  '-MSocket',
  '-MPOSIX',
  '-e',
  '$^F = 100; socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!"; ' +
    'if (fileno($s) != 3) { defined POSIX::dup2(fileno($s), 3) or die "dup2: $!" } exec @ARGV or die "exec: $!"',
  '--',
];

const skip = skipWithout(have('spawn-fcgi'), 'spawn-fcgi is not installed (Debian package spawn-fcgi)');


async function underSpawnFcgi(spawnArgs, address, env) {
  const pm = startNode({
    command: 'spawn-fcgi',
    args: ['-n', ...spawnArgs, '--', process.execPath, HELLO],
    env: { PM_N_PROCESSES: '2', FCGI_LISTEN: '', ...env },
  });
  await pm.waitFor(/ready: 2 servers accepting/);
  assert.ok(pm.lines.some((l) => /: listening on fd 0$/.test(l)), pm.lines.join('\n'));
  const before = livePids(pm);
  const seen = new Set();
  for (let i = 0; i < 30 && seen.size < 2; i++) {
    const res = await fcgiRequest(address);
    assert.ok(res.ok, res.stdout + res.stderr);
    seen.add(Number(/pid=(\d+)/.exec(res.body)[1]));
  }
  assert.ok([...seen].every((pid) => before.includes(pid)), 'the workers answer on the inherited socket');
  // After a HUP the new workers accept on the same inherited socket.
  pm.kill('SIGHUP');
  await eventually(() => livePids(pm).length === 2 && before.every((pid) => !livePids(pm).includes(pid)), 8_000);
  const res = await fcgiRequest(address);
  assert.ok(res.ok);
  assert.ok(!before.includes(Number(/pid=(\d+)/.exec(res.body)[1])));
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
}

test('fd 0 is a unix socket from spawn-fcgi (posix-node absent: /proc tells it is listening)', { skip }, async () => {
  const sock = path.join(tempDir(), 'spawned.sock');
  await underSpawnFcgi(['-s', sock], sock, { FCGI_PM_NO_POSIX: '1' });
});

test('fd 0 is a TCP socket from spawn-fcgi (posix-node getsockopt tells it is listening)', { skip }, async () => {
  const port = await freePort();
  await underSpawnFcgi(['-a', '127.0.0.1', '-p', String(port)], `127.0.0.1:${port}`, {});
});

for (const posix of ['with posix-node', 'without posix-node']) {
  test(`a socketpair on fd 0 (stdio pipe) is not taken for a listening socket, ${posix}`, async () => {
    const pm = await startHello({
      n: 1,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: posix === 'without posix-node' ? { FCGI_PM_NO_POSIX: '1' } : {},
    });
    assert.ok(pm.lines.some((l) => /listening on unix:/.test(l)));
    assert.ok((await fcgiRequest(pm.address)).ok);
    pm.kill('SIGTERM');
    assert.equal((await pm.exited).code, 0);
  });
}

test('listen: { fd } that is not a listening socket is refused, by the manager and with n_processes 0 alike', async () => {
  const file = fs.openSync(path.join(tempDir(), 'plain-file'), 'w');
  try {
    const fd3 = {
      'a regular file': { stdio: ['ignore', 'pipe', 'pipe', file] },
      'a connected socket (a socketpair from a stdio pipe)': { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] },
      // listen(2) on it would bind it to a random port on every address.
      'an unbound TCP socket': { command: 'perl', prefix: WITH_UNBOUND_SOCKET },
    };
    for (const [n, env] of [[2, {}], [0, {}], [0, { FCGI_PM_NO_POSIX: '1' }]]) {
      for (const [what, how] of Object.entries(fd3)) {
        const args = [FD_APP, '3', String(n)];
        const app = how.command
          ? startNode({ command: how.command, args: [...how.prefix, process.execPath, ...args], env })
          : startNode({ script: FD_APP, args: args.slice(1), stdio: how.stdio, env });
        const { code } = await app.exited;
        const where = `${what}, n_processes ${n} ${JSON.stringify(env)}:\n${app.lines.join('\n')}`;
        assert.equal(code, 2, where);
        assert.ok(app.lines.includes('fd-app: listen: fd 3 is not a listening socket'), where);
        assert.equal(app.count(/^attached$|listening on|started/), 0, where);
      }
    }
  } finally {
    fs.closeSync(file);
  }
});
