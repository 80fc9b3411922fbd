'use strict';
// TTIN and TTOU: one more worker, one fewer (the highest slot, which drains first), never below
// one, under a request loop that loses nothing.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startHello, livePids, fcgiRequest, requestLoops, eventually, sleep, posixVariants } = require('../helpers/helpers');
const { dynamicMaintenance, ondemandMaintenance, poolSizing: sizingOfResolved, defaultStartServers } = require('../../dist/pool/scaling');
const { resolveParams, validateParams } = require('../../dist/params');

/** The sizing of a pool given these parameters, over the defaults, as the manager decides it. */
const poolSizing = (params) => sizingOfResolved(resolveParams(validateParams(params)));

test('TTIN adds a worker and TTOU retires the highest slot, down to one and no further; a request loop loses nothing', async () => {
  const pm = await startHello({ n: 2 });
  const original = livePids(pm);
  const load = requestLoops(pm.address, { loops: 2, maxEach: 3_000, maxMs: 60_000 });
  try {
    await eventually(() => load.results.length >= 10, 10_000);
    pm.kill('SIGTTIN');
    await pm.waitFor(/received signal TTIN: 3 servers$/);
    assert.ok(await eventually(() => livePids(pm).length === 3, 10_000));
    const third = livePids(pm).find((pid) => !original.includes(pid));
    await pm.waitFor(new RegExp(`server \\(pid ${third}\\): initialized`));
    pm.kill('SIGTTIN');
    await pm.waitFor(/received signal TTIN: 4 servers$/);
    assert.ok(await eventually(() => livePids(pm).length === 4, 10_000));
    const fourth = livePids(pm).find((pid) => !original.includes(pid) && pid !== third);
    await pm.waitFor(new RegExp(`server \\(pid ${fourth}\\): initialized`));
    await eventually(() => pm.count(/ready: \d+ servers? accepting/) >= 1 && load.results.length >= 50, 10_000);

    pm.kill('SIGTTOU');
    await pm.waitFor(/received signal TTOU: 3 servers$/);
    await pm.waitFor(new RegExp(`sending TERM to PIDs, ${fourth}$`));
    assert.ok(await eventually(() => livePids(pm).length === 3, 10_000), 'the highest slot (the fourth worker) retired');
    for (const expected of [2, 1]) {
      pm.kill('SIGTTOU');
      await pm.waitFor(new RegExp(`received signal TTOU: ${expected} servers?$`));
      assert.ok(await eventually(() => livePids(pm).length === expected, 10_000));
    }
    pm.kill('SIGTTOU');
    await pm.waitFor(/received signal TTOU: already at 1 server$/);
    assert.deepEqual(livePids(pm), [original[0]], 'slot 0, the first worker, is the one left');
    const before = load.results.length;
    assert.ok(await eventually(() => load.results.length >= before + 20, 10_000), 'the last worker serves the loop');
  } finally {
    const results = await load.stop();
    const failed = results.filter((r) => !r.ok);
    assert.equal(failed.length, 0, `${failed.length} of ${results.length} failed: ${failed.slice(0, 3).map((r) => r.stdout || r.code).join(' | ')}`);
  }
  assert.ok((await fcgiRequest(pm.address)).ok);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('pm = dynamic: PHP-FPM\'s maintenance, decided apart: retire one idle above max_spare, spawn at a doubling rate below min_spare, stop at max_children', () => {
  const limits = { maxChildren: 10, minSpare: 2, maxSpare: 4, maxSpawnRate: 8 };
  assert.deepEqual(dynamicMaintenance(limits, { idle: 5, total: 6, spawnRate: 4 }), { spawn: 0, retireIdle: true, reachedMaxChildren: false, busyWarning: false, nextSpawnRate: 1 });
  assert.deepEqual(dynamicMaintenance(limits, { idle: 3, total: 6, spawnRate: 4 }), { spawn: 0, retireIdle: false, reachedMaxChildren: false, busyWarning: false, nextSpawnRate: 1 });
  assert.deepEqual(dynamicMaintenance(limits, { idle: 0, total: 3, spawnRate: 1 }), { spawn: 1, retireIdle: false, reachedMaxChildren: false, busyWarning: false, nextSpawnRate: 2 });
  assert.equal(dynamicMaintenance(limits, { idle: 0, total: 3, spawnRate: 2 }).spawn, 2, 'at most min_spare - idle');
  assert.deepEqual(dynamicMaintenance({ ...limits, minSpare: 4 }, { idle: 0, total: 3, spawnRate: 8 }), { spawn: 4, retireIdle: false, reachedMaxChildren: false, busyWarning: true, nextSpawnRate: 8 });
  assert.equal(dynamicMaintenance(limits, { idle: 0, total: 9, spawnRate: 4 }).spawn, 1, 'never past max_children');
  assert.equal(dynamicMaintenance(limits, { idle: 0, total: 10, spawnRate: 4 }).reachedMaxChildren, true);
  assert.equal(defaultStartServers(2, 6), 4);
  assert.deepEqual(poolSizing({ pm: 'dynamic', n_processes: 6, min_spare_servers: 1, max_spare_servers: 3 }), { mode: 'dynamic', startServers: 2, limits: { maxChildren: 6, minSpare: 1, maxSpare: 3, maxSpawnRate: 32 } });
  assert.deepEqual(poolSizing({ pm: 'static', n_processes: 2 }), { mode: 'static' });
  assert.throws(() => poolSizing({ pm: 'dynamic', n_processes: 6, max_spare_servers: 3 }), /min_spare_servers \(0\) must be at least 1/);
  assert.throws(() => poolSizing({ pm: 'dynamic', n_processes: 2, min_spare_servers: 1, max_spare_servers: 3 }), /max_spare_servers \(3\) cannot be greater than n_processes \(2\)/);
  assert.throws(() => poolSizing({ pm: 'dynamic', n_processes: 6, min_spare_servers: 3, max_spare_servers: 2 }), /max_spare_servers \(2\) must not be less than min_spare_servers \(3\)/);
  assert.throws(() => poolSizing({ pm: 'dynamic', n_processes: 6, min_spare_servers: 1, max_spare_servers: 2, start_servers: 5 }), /start_servers \(5\) must not be less than min_spare_servers \(1\) and not greater than max_spare_servers \(2\)/);
  assert.throws(() => poolSizing({ pm: 'static', min_spare_servers: 1 }), /min_spare_servers is for pm = dynamic/);
});

test('pm = dynamic grows under a slow concurrent load up to max_children (warning once), and shrinks back to max_spare_servers when idle', async () => {
  const pm = await startHello({ n: 1, env: { PM_PM: 'dynamic', PM_N_PROCESSES: '3', PM_MIN_SPARE_SERVERS: '1', PM_MAX_SPARE_SERVERS: '2', PM_START_SERVERS: '1', PM_STATUS_PATH: '/status' } });
  assert.equal(livePids(pm).length, 1, 'start_servers');
  const load = requestLoops(pm.address, { loops: 8, maxEach: 40, maxMs: 40_000, query: 'sleep=1' });
  let most = 0;
  try {
    const grown = await eventually(() => (most = Math.max(most, livePids(pm).length)) === 3, 20_000);
    assert.ok(grown, `grew to ${most}`);
    await pm.waitFor(/server reached max_children setting \(3\), consider raising it/, 10_000);
  } finally {
    const results = await load.stop();
    const failed = results.filter((r) => !r.ok);
    assert.equal(failed.length, 0, `${failed.length} of ${results.length} failed`);
  }
  assert.equal(pm.count(/server reached max_children setting/), 1, 'warned once while it stayed at the maximum');
  const shrunk = await eventually(() => livePids(pm).length === 2, 20_000);
  assert.ok(shrunk, `shrank to ${livePids(pm).length}`);
  await sleep(2500);
  assert.equal(livePids(pm).length, 2, 'and stays at max_spare_servers');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('pm = ondemand, decided apart: the worker idle longest past the timeout retires; one more starts while connections wait', () => {
  const o = { maxChildren: 3, idleTimeoutMs: 1000 };
  assert.deepEqual(ondemandMaintenance(o, { now: 5000, total: 2, idleSince: [4500, 3000], queued: 0 }), { spawn: 0, retireIdleIndex: 1 });
  assert.deepEqual(ondemandMaintenance(o, { now: 5000, total: 2, idleSince: [4500, undefined], queued: 0 }), { spawn: 0, retireIdleIndex: undefined });
  assert.deepEqual(ondemandMaintenance(o, { now: 5000, total: 2, idleSince: [undefined, undefined], queued: 4 }), { spawn: 1, retireIdleIndex: undefined });
  assert.deepEqual(ondemandMaintenance(o, { now: 5000, total: 3, idleSince: [undefined, undefined, undefined], queued: 4 }), { spawn: 0, retireIdleIndex: undefined }, 'at max_children');
  assert.deepEqual(poolSizing({ pm: 'ondemand', n_processes: 4, process_idle_timeout: 2 }), { mode: 'ondemand', maxChildren: 4, idleTimeoutMs: 2000 });
  assert.throws(() => poolSizing({ pm: 'static', n_processes: 2, process_idle_timeout: 2 }), /process_idle_timeout is for pm = ondemand/);
});

for (const variant of posixVariants()) {
  const withPosix = variant.name === 'with posix-node';
  test(`pm = ondemand ${variant.name}: ${withPosix ? 'no worker at rest; the first request starts one and is answered; it retires after process_idle_timeout' : 'refused before anything forks, naming posix-node'}`, { skip: variant.skip }, async () => {
    const env = { ...variant.env, PM_PM: 'ondemand', PM_N_PROCESSES: '3', PM_PROCESS_IDLE_TIMEOUT: '1.5' };
    if (!withPosix) {
      const pm = await startHello({ n: 3, env, waitReady: false });
      assert.equal((await pm.exited).code, 2);
      assert.equal(pm.lines.length, 1, pm.lines.join('\n'));
      assert.match(pm.lines[0], /pm = ondemand needs posix-node \(its pollSocket watches the socket for a waiting connection without accepting it\)/);
      return;
    }
    const pm = await startHello({ n: 3, env, waitReady: false });
    await pm.waitFor(/ready: 0 servers accepting \(pm = ondemand\)/);
    await sleep(500);
    assert.deepEqual(livePids(pm), [], 'no worker at rest');
    for (const round of [1, 2]) {
      const began = Date.now();
      const answer = await fcgiRequest(pm.address);
      const took = Date.now() - began;
      assert.ok(answer.ok, answer.stdout);
      assert.ok(took < 10_000, `round ${round}: answered in ${took} ms, about one boot time`);
      assert.equal(livePids(pm).length, 1, 'one worker started for it');
      assert.ok(await eventually(() => livePids(pm).length === 0, 15_000), `round ${round}: back to no worker after the idle timeout`);
    }
    assert.equal(pm.count(/exited with status [1-9]/), 0, 'each worker retired gracefully');
    pm.kill('SIGTERM');
    assert.equal((await pm.exited).code, 0);
  });
}
