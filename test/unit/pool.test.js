'use strict';
// The pool's pure decisions, apart from processes: the reconcile plan (rolling reload, recycling,
// crash replacement), the pool's state machine, recycling limits, and the new parameters.

const test = require('node:test');
const assert = require('node:assert/strict');
const { planPool, reloadComplete, nextPoolState, canSpawn, resizedWorkers } = require('../../dist/pool/reconcile');
const { requestLimit, recycleReason } = require('../../dist/worker/recycle');
const { validateParameter, validateParams } = require('../../dist/params');

let nextPid = 100;
const worker = (generation, state, extra = {}) => ({ pid: nextPid, slot: nextPid++, generation, state, recycle: false, warm: state === 'accepting', forkedAt: nextPid, ...extra });

test('plan: an empty pool forks n_processes; a full one does nothing', () => {
  assert.deepEqual(planPool([], { workers: 4, surge: 4, generation: 1 }), { spawn: 4, retire: [] });
  const full = [worker(1, 'accepting'), worker(1, 'accepting')];
  assert.deepEqual(planPool(full, { workers: 2, surge: 2, generation: 1 }), { spawn: 0, retire: [] });
  const crashed = [worker(1, 'accepting')];
  assert.deepEqual(planPool(crashed, { workers: 2, surge: 2, generation: 1 }), { spawn: 1, retire: [] }, 'a crashed worker is replaced');
});

test('plan: a reload starts the new generation first, bounded by the surge, and retires one old worker per new one accepting', () => {
  const old = [worker(1, 'accepting'), worker(1, 'accepting'), worker(1, 'accepting'), worker(1, 'accepting')];
  const target = { workers: 4, surge: 2, generation: 2 };
  assert.deepEqual(planPool(old, target), { spawn: 2, retire: [] }, 'only surge more processes, nobody retired yet');
  const starting = [...old, worker(2, 'starting'), worker(2, 'starting')];
  assert.deepEqual(planPool(starting, target), { spawn: 0, retire: [] }, 'nothing accepts yet: wait');
  const oneUp = [...old, worker(2, 'accepting'), worker(2, 'starting')];
  assert.deepEqual(planPool(oneUp, target), { spawn: 0, retire: [old[0].pid] }, 'the oldest old worker goes');
  // While it drains it still counts against the bound.
  const draining = [{ ...old[0], state: 'retiring' }, ...old.slice(1), worker(2, 'accepting'), worker(2, 'starting')];
  assert.equal(planPool(draining, target).spawn, 0);
  const reaped = draining.slice(1);
  assert.equal(planPool(reaped, target).spawn, 1, 'once it is reaped there is room for the next new one');
});

test('plan: an old worker serves on until its replacement is warm; a newer HUP makes room by retiring cold ones, not warm ones', () => {
  const target = { workers: 2, surge: 2, generation: 2 };
  const old = [worker(1, 'accepting'), worker(1, 'accepting')];
  const cold = [worker(2, 'accepting', { warm: false }), worker(2, 'accepting', { warm: false })];
  assert.deepEqual(planPool([...old, ...cold], target), { spawn: 0, retire: [] }, 'accepting but cold: nobody retires yet');
  assert.equal(reloadComplete([...old, ...cold], target), false);
  const oneWarm = [...old, { ...cold[0], warm: true }, cold[1]];
  assert.deepEqual(planPool(oneWarm, target).retire, [old[0].pid], 'one warm replacement, one old worker retires');
  // HUP again: generation 3 needs room; the cold generation-2 workers make it, the warm old ones stay.
  const third = { ...target, generation: 3 };
  const plan = planPool([...old, ...cold], third);
  assert.deepEqual(plan.retire.sort(), cold.map((w) => w.pid).sort());
  assert.equal(plan.spawn, 0, 'the room comes once they are reaped');
  assert.equal(planPool(old, third).spawn, 2);
});

test('plan: older workers that never accepted are stopped at once; a reload is complete when only the new generation serves', () => {
  const target = { workers: 2, surge: 2, generation: 3 };
  const gen1 = [worker(1, 'accepting'), worker(1, 'accepting')];
  const gen2 = [worker(2, 'starting'), worker(2, 'starting')];
  assert.deepEqual(planPool([...gen1, ...gen2], target).retire, gen2.map((w) => w.pid));
  // While those exit, cold old workers are the only ones serving: they stay, for the room is coming.
  const coldGen1 = gen1.map((w) => ({ ...w, warm: false }));
  const gen2Leaving = gen2.map((w) => ({ ...w, state: 'retiring' }));
  assert.deepEqual(planPool([...coldGen1, ...gen2Leaving], target), { spawn: 0, retire: [] }, 'the next step retires nobody more');
  assert.deepEqual(planPool(coldGen1, target), { spawn: 2, retire: [] }, 'once reaped, generation 3 starts');
  const done = [worker(3, 'accepting'), worker(3, 'accepting'), { ...gen1[0], state: 'retiring' }];
  assert.equal(reloadComplete(done, target), true, 'a retiring old worker does not hold the reload');
  assert.equal(reloadComplete([worker(3, 'accepting'), ...gen1], target), false);
});

test('plan: a worker asking to be recycled is replaced first, and retired once its replacement accepts', () => {
  const target = { workers: 2, surge: 1, generation: 1 };
  const tired = worker(1, 'accepting', { recycle: true });
  const other = worker(1, 'accepting');
  assert.deepEqual(planPool([tired, other], target), { spawn: 1, retire: [] });
  const replacement = worker(1, 'accepting');
  assert.deepEqual(planPool([tired, other, replacement], target), { spawn: 0, retire: [tired.pid] });
  assert.deepEqual(planPool([tired, other, worker(1, 'starting')], target), { spawn: 0, retire: [] }, 'not before it accepts');
});

test('plan: more fresh workers than wanted are cut down, unready ones first', () => {
  const target = { workers: 2, surge: 2, generation: 1 };
  const a = worker(1, 'accepting');
  const b = worker(1, 'accepting');
  const c = worker(1, 'starting');
  assert.deepEqual(planPool([a, b, c], target), { spawn: 0, retire: [c.pid] });
});

test('pool state: running, reloading (again on a newer HUP), stopping; nothing leaves stopping', () => {
  assert.equal(nextPoolState('running', 'reload'), 'reloading');
  assert.equal(nextPoolState('reloading', 'reload'), 'reloading');
  assert.equal(nextPoolState('reloading', 'reload-complete'), 'running');
  assert.equal(nextPoolState('reloading', 'reload-abandoned'), 'running');
  assert.equal(nextPoolState('running', 'reload-complete'), undefined);
  assert.equal(nextPoolState('running', 'stop'), 'stopping');
  assert.equal(nextPoolState('reloading', 'stop'), 'stopping');
  for (const event of ['reload', 'stop', 'reload-complete']) assert.equal(nextPoolState('stopping', event), undefined);
  assert.equal(canSpawn('running'), true);
  assert.equal(canSpawn('reloading'), true);
  assert.equal(canSpawn('stopping'), false);
});

test('recycling: jittered limits, and the reason by count or memory', () => {
  assert.equal(requestLimit(0, 50, () => 0.9), 0, 'off stays off');
  assert.equal(requestLimit(1000, 0, () => 0.9), 1000);
  assert.equal(requestLimit(1000, 50, () => 0), 1000);
  assert.equal(requestLimit(1000, 50, () => 0.999), 1050);
  const policy = { maxRequests: 1000, maxMemoryBytes: 300 * 1024 * 1024 };
  assert.equal(recycleReason(policy, 999, 100 * 1024 * 1024), undefined);
  assert.equal(recycleReason(policy, 1000, 0), 'reached max_requests (1000)');
  assert.equal(recycleReason(policy, 1057, 0), 'reached max_requests (1000)', 'the limit, not how many were served by the time it asked');
  assert.equal(recycleReason(policy, 10, 312 * 1024 * 1024), 'RSS 312 MiB over max_memory 300 MiB');
  assert.equal(recycleReason({ maxRequests: 0, maxMemoryBytes: 0 }, 1e9, 1e12), undefined);
});

test('parameters: reload and recycling parameters are validated; sizes take units', () => {
  assert.equal(validateParameter('max_memory', '300M'), 300 * 1024 * 1024);
  assert.equal(validateParameter('max_memory', '1G'), 1024 ** 3);
  assert.equal(validateParameter('max_memory', '512 KiB'), 512 * 1024);
  assert.equal(validateParameter('max_memory', 1000), 1000);
  assert.throws(() => validateParameter('max_memory', '300 apples'), { name: 'TypeError', message: /max_memory must be a number of bytes or a size/ });
  assert.equal(validateParameter('reload_surge', '2'), 2);
  assert.throws(() => validateParameter('reload_surge', 0), { name: 'RangeError', message: /reload_surge must be at least 1/ });
  assert.equal(validateParameter('reload_timeout', '1.5'), 1.5);
  assert.throws(() => validateParameter('reload_timeout', -1), RangeError);
  assert.equal(validateParameter('reload_warmup', '0.5'), 0.5);
  assert.throws(() => validateParameter('reload_warmup', 'soon'), TypeError);
  assert.throws(() => validateParameter('max_requests', 2.5), { name: 'RangeError', message: /max_requests must be a whole number/ });
  assert.throws(() => validateParameter('max_requests_jitter', -1), RangeError);
  assert.throws(() => validateParams({ max_requests_per_child: 100 }), { message: /did you mean 'max_requests'/ });
  assert.throws(() => validateParams({ max_memory_restart: '300M' }), { message: /did you mean 'max_memory'/ });
});

test('plan: TTIN and TTOU move the count by one, never below one; TTOU retires the highest slot, an unready worker first', () => {
  assert.equal(resizedWorkers(4, 'TTIN'), 5);
  assert.equal(resizedWorkers(4, 'TTOU'), 3);
  assert.equal(resizedWorkers(1, 'TTOU'), 1);
  const pool = [worker(1, 'accepting', { slot: 0 }), worker(1, 'accepting', { slot: 2 }), worker(1, 'accepting', { slot: 1 })];
  assert.deepEqual(planPool(pool, { workers: 2, surge: 2, generation: 1 }), { spawn: 0, retire: [pool[1].pid] }, 'slot 2 goes');
  const withStarting = [...pool.slice(0, 2), worker(1, 'starting', { slot: 1 })];
  assert.deepEqual(planPool(withStarting, { workers: 2, surge: 2, generation: 1 }).retire, [withStarting[2].pid], 'one that serves nothing yet goes first');
  assert.deepEqual(planPool(pool, { workers: 4, surge: 4, generation: 1 }), { spawn: 1, retire: [] }, 'TTIN: one more');
});

test('boot failures: given up after BOOT_ATTEMPTS in a row before any worker ever accepted; never once one has', () => {
  const { BootFailures, BOOT_ATTEMPTS, BOOT_FAILURE_STATUS } = require('../../dist/pool/boot-failures');
  assert.equal(BOOT_FAILURE_STATUS, 3, "gunicorn's WORKER_BOOT_ERROR");
  const fresh = new BootFailures();
  for (let i = 1; i < BOOT_ATTEMPTS; i++) fresh.exited(false);
  assert.equal(fresh.givingUp, false, `${BOOT_ATTEMPTS - 1} failures`);
  fresh.exited(false);
  assert.equal(fresh.givingUp, true);

  const served = new BootFailures();
  served.exited(false);
  served.accepted();
  served.exited(true); // a worker that had served dies
  for (let i = 0; i < 3 * BOOT_ATTEMPTS; i++) served.exited(false);
  assert.equal(served.givingUp, false, 'a pool that has served is never given up on');
  assert.equal(served.failures, 3 * BOOT_ATTEMPTS);

  const mixed = new BootFailures();
  for (let i = 0; i < BOOT_ATTEMPTS - 1; i++) mixed.exited(false);
  mixed.exited(true); // an exit after accepting is not a failure to start
  assert.equal(mixed.givingUp, false);
});

test('reporter: the first request after an idle report is reported at once (a loop that then blocks cannot), the rest are coalesced', () => {
  const { WorkerReporter } = require('../../dist/worker/reporter');
  const sent = [];
  const reporter = new WorkerReporter((m) => sent.push(m), { maxRequests: 0, maxMemoryBytes: 0 });
  const req = (uri) => ({ method: 'GET', url: uri, cgiParams: { REQUEST_URI: uri } });
  const a = {};
  reporter.requestBegan(a, req('/stuck'));
  assert.equal(sent.length, 1, 'idle to busy: reported at once');
  assert.equal(sent[0].inFlight, 1);
  assert.equal(sent[0].lastRequest.uri, '/stuck');
  reporter.requestEnded(a);
  for (let i = 0; i < 1_000; i++) {
    const r = {};
    reporter.requestBegan(r, req(`/${i}`));
    reporter.requestEnded(r);
  }
  assert.equal(sent.length, 1, 'the manager already takes it for busy: nothing more until the timer');
  reporter.flush(); // the timer's report: idle
  assert.equal(sent.at(-1).inFlight, 0);
  reporter.requestBegan({}, req('/next'));
  assert.equal(sent.length, 3, 'after an idle report, the next request goes at once');
  assert.equal(sent.at(-1).lastRequest.uri, '/next');
  reporter.flush();
});

test('reporter: a heartbeat that said idle counts as an idle report, so the next request is reported at once', async () => {
  const { WorkerReporter } = require('../../dist/worker/reporter');
  const sent = [];
  const reporter = new WorkerReporter((m) => sent.push(m), { maxRequests: 0, maxMemoryBytes: 0 });
  const a = {};
  reporter.requestBegan(a, { url: '/a' });
  reporter.requestEnded(a);
  reporter.startHeartbeat(5);
  const { setTimeout: sleep } = require('node:timers/promises');
  await sleep(40);
  assert.ok(sent.some((m) => m.act === 'fcgi-pm:heartbeat' && m.inFlight === 0), 'a heartbeat said idle');
  const reports = sent.filter((m) => m.act === 'fcgi-pm:report').length;
  reporter.requestBegan({}, { url: '/blocks' });
  const last = sent.at(-1);
  assert.equal(sent.filter((m) => m.act === 'fcgi-pm:report').length, reports + 1, 'reported at once');
  assert.equal(last.lastRequest.uri, '/blocks');
});
