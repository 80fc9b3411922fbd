'use strict';
// TTIN and TTOU: one more worker, one fewer (the highest slot, which drains first), never below
// one, under a request loop that loses nothing.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startHello, livePids, fcgiRequest, eventually, sleep } = require('./helpers');
const { dynamicMaintenance, poolSizing, defaultStartServers } = require('../dist/pool/scaling');

/** `loops` cgi-fcgi loops until stopped (each bounded to `maxEach` requests and `maxMs`). */
function requestLoops(address, { loops = 2, maxEach = 3_000, maxMs = 60_000, query = '' } = {}) {
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const results = [];
  const running = Array.from({ length: loops }, async () => {
    for (let i = 0; i < maxEach && !stopped && Date.now() < deadline; i++) results.push(await fcgiRequest(address, { query }));
  });
  return {
    results,
    async stop() {
      stopped = true;
      await Promise.all(running);
      return results;
    },
  };
}

test('TTIN adds a worker and TTOU retires the highest slot, down to one and no further; a request loop loses nothing', async () => {
  const pm = await startHello({ n: 2 });
  const original = livePids(pm);
  const load = requestLoops(pm.address);
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
    await eventually(() => pm.count(/ready: \d+ servers accepting/) >= 1 && load.results.length >= 50, 10_000);

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
