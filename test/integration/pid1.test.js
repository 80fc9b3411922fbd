'use strict';
// The manager as PID 1 in a new PID namespace (a container's init): orphans reparented to it are
// reaped, its workers are still node:cluster's to reap, and TERM stops it cleanly.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { tempDir, startNode, fcgiRequest, eventually, skipWithout, have, posixVariants, childrenOf } = require('../helpers/helpers');
const { zombieChildren } = require('../../dist/os/orphan-reaper');

const APP = path.join(__dirname, '..', 'fixtures', 'orphan-app.js');
const isRoot = process.getuid?.() === 0;
const [withPosix] = posixVariants();

test('as PID 1: orphans reparented to the manager are reaped, no zombie stays; TERM stops it cleanly', { skip: withPosix.skip || skipWithout(isRoot && have('unshare'), 'needs root and unshare(1)') }, async () => {
  const address = path.join(tempDir(), 'fcgi.sock');
  const pm = startNode({ command: 'unshare', args: ['--pid', '--fork', '--mount-proc', process.execPath, APP], env: { FCGI_LISTEN: address } });
  await pm.waitFor(/FastCGI: manager \(pid 1\): ready: 2 servers accepting/, 20_000);
  assert.ok(pm.lines.some((l) => /manager \(pid 1\): running as PID 1: reaping orphaned processes/.test(l)));
  const manager = childrenOf(pm.pid).find((c) => c.comm.startsWith('node'))?.pid;
  assert.ok(manager, 'the manager, seen from the host');
  const workers = childrenOf(manager).filter((c) => c.comm.startsWith('node')).map((c) => c.pid);
  assert.equal(workers.length, 2);

  assert.ok((await fcgiRequest(address, { query: 'orphans=5' })).ok);
  assert.ok(await eventually(() => childrenOf(manager).filter((c) => c.comm === 'sleep').length === 5, 5_000), 'five orphans are now the manager\'s children');
  assert.ok(await eventually(() => childrenOf(manager).filter((c) => c.comm === 'sleep').length === 0 && zombieChildren(manager).length === 0, 10_000),
    `no zombie left: ${JSON.stringify(childrenOf(manager))}`);
  assert.deepEqual(childrenOf(manager).filter((c) => c.comm.startsWith('node')).map((c) => c.pid).sort(), workers.sort(), 'the workers are untouched');

  // A worker that exits is still node:cluster's: it is logged and replaced.
  process.kill(workers[0], 'SIGKILL');
  await pm.waitFor(/server \(pid \d+\) exited with status 9 \(signal KILL\)/, 10_000);
  assert.ok(await eventually(() => childrenOf(manager).filter((c) => c.comm.startsWith('node') && c.state !== 'Z').length === 2, 10_000), 'replaced');

  process.kill(manager, 'SIGTERM');
  const { code } = await pm.exited;
  assert.equal(code, 0);
  assert.ok(pm.lines.some((l) => /manager \(pid 1\): dying: safe exit from signal TERM/.test(l)));
});
