'use strict';
// TTIN and TTOU: one more worker, one fewer (the highest slot, which drains first), never below
// one, under a request loop that loses nothing.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startHello, livePids, fcgiRequest, eventually } = require('./helpers');

/** `loops` cgi-fcgi loops until stopped (each bounded to `maxEach` requests and `maxMs`). */
function requestLoops(address, { loops = 2, maxEach = 3_000, maxMs = 60_000 } = {}) {
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const results = [];
  const running = Array.from({ length: loops }, async () => {
    for (let i = 0; i < maxEach && !stopped && Date.now() < deadline; i++) results.push(await fcgiRequest(address));
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
