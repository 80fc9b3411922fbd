'use strict';
// Rolling reloads and recycling, with real managers, real signals and real cgi-fcgi requests: a HUP
// starts the new workers first and retires an old one for each new one that accepts; a broken release
// leaves the old workers serving; recycled workers are replaced before they go.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startHello, fcgiRequest, requestLoops, tempDir, eventually, isAlive, livePids, childrenOf } = require('../helpers/helpers');

const RELOAD_APP = path.join(__dirname, '..', 'fixtures', 'reload-app.js');

async function startReloadApp({ n = 2, env = {}, release = 'ok' } = {}) {
  const releaseFile = path.join(tempDir(), 'release');
  fs.writeFileSync(releaseFile, release);
  const pm = await startHello({ n, script: RELOAD_APP, env: { APP_RELEASE_FILE: releaseFile, ...env } });
  pm.deploy = (what) => fs.writeFileSync(releaseFile, what);
  return pm;
}

const releaseOf = (r) => /release=(\S+)/.exec(r.body)?.[1];

/** Deploys `release` and sends HUP: resolves with the pids of generation 2's two workers, once forked. */
async function deployGeneration2(pm, release) {
  const first = livePids(pm);
  pm.deploy(release);
  pm.kill('SIGHUP');
  await pm.waitFor(/reloading: generation 2/);
  const second = await eventually(() => {
    const fresh = livePids(pm).filter((pid) => !first.includes(pid));
    return fresh.length === 2 && fresh;
  }, 10_000);
  assert.ok(second, 'generation 2 was forked');
  return second;
}
const pidOfAnswer = (r) => Number(/pid=(\d+)/.exec(r.body)?.[1]);

test('a reload storm under load: no request fails, and the processes never pass n_processes + reload_surge', async () => {
  const n = 2;
  const surge = 1;
  const pm = await startReloadApp({ n, env: { PM_RELOAD_SURGE: String(surge) } });
  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, childrenOf(pm.pid).length)), 20);
  const load = requestLoops(pm.address);
  try {
    await eventually(() => load.results.length >= 10, 10_000);
    for (let i = 0; i < 8; i++) {
      pm.kill('SIGHUP');
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await pm.waitFor(/reload complete: generation 9, 2 servers accepting in [\d.]+ s/, 30_000);
  } finally {
    const results = await load.stop();
    clearInterval(sampler);
    const failed = results.filter((r) => !r.ok);
    assert.equal(failed.length, 0, `${failed.length} of ${results.length} failed: ${failed[0]?.stdout}${failed[0]?.stderr} code ${failed[0]?.code}`);
    assert.ok(results.length >= 30, `the loops ran (${results.length} requests)`);
  }
  assert.ok(most <= n + surge, `at most ${n + surge} processes at once, saw ${most}`);
  assert.ok(most >= 1);
  assert.ok(pm.count(/reloading: generation \d+, replacing \d+ servers/) === 8);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('a broken release leaves the old workers serving; fixing it and sending HUP brings the new code in', async () => {
  const pm = await startReloadApp({ n: 2 });
  const before = livePids(pm);
  pm.deploy('crash');
  pm.kill('SIGHUP');
  await pm.waitFor(/reload abandoned: generation 2: server \(pid \d+\) exited before it accepted; generation 1 keeps serving/);
  for (let i = 0; i < 10; i++) {
    const r = await fcgiRequest(pm.address);
    assert.ok(r.ok, `${r.stdout} ${r.stderr} ${r.code}\n${pm.lines.slice(-12).join("\n")}`);
    assert.equal(releaseOf(r), 'ok');
    assert.ok(before.includes(pidOfAnswer(r)), 'an old worker answered');
  }
  pm.deploy('fixed');
  pm.kill('SIGHUP');
  await pm.waitFor(/reload complete: generation 3, 2 servers accepting/, 20_000);
  const after = await eventually(async () => {
    const r = await fcgiRequest(pm.address);
    return releaseOf(r) === 'fixed' && r;
  }, 10_000);
  assert.ok(after, 'the fixed release answers');
  assert.ok(!before.includes(pidOfAnswer(after)));
  const gone = await eventually(() => before.every((pid) => !isAlive(pid)), 10_000);
  assert.ok(gone, 'the old workers were retired');
  pm.kill('SIGTERM');
  await pm.exited;
});

test('a release whose workers never accept is abandoned after reload_timeout, and its workers are stopped', async () => {
  const pm = await startReloadApp({ n: 2, env: { PM_RELOAD_TIMEOUT: '1.5' } });
  const before = livePids(pm);
  pm.deploy('hang');
  pm.kill('SIGHUP');
  await pm.waitFor(/reload abandoned: generation 2: not all accepting within reload_timeout 1\.5 s; generation 1 keeps serving/, 15_000);
  const hung = livePids(pm).filter((pid) => !before.includes(pid));
  const stopped = await eventually(() => livePids(pm).every((pid) => before.includes(pid)), 10_000);
  assert.ok(stopped, `the hung workers were stopped: ${hung}`);
  const r = await fcgiRequest(pm.address);
  assert.ok(r.ok);
  assert.ok(before.includes(pidOfAnswer(r)));
  pm.kill('SIGTERM');
  await pm.exited;
});

test('HUP during a reload: the unready workers are stopped at once, and the pool ends on the newest code', async () => {
  const pm = await startReloadApp({ n: 2, env: { APP_WARMUP_MS: '1500' } });
  const second = await deployGeneration2(pm, 'second');
  pm.deploy('third');
  pm.kill('SIGHUP');
  await pm.waitFor(/reloading: generation 3/);
  const termed = (pid) => pm.lines.some((line) => /sending TERM to PIDs, /.test(line) && line.split('PIDs, ')[1].split(' ').includes(String(pid)));
  assert.ok(await eventually(() => second.every(termed), 10_000), `generation 2 was sent TERM:\n${pm.lines.join('\n')}`);
  await pm.waitFor(/reload complete: generation 3, 2 servers accepting/, 20_000);
  for (let i = 0; i < 6; i++) {
    const r = await fcgiRequest(pm.address);
    assert.ok(r.ok);
    assert.equal(releaseOf(r), 'third');
  }
  assert.ok(second.every((pid) => !isAlive(pid)), 'generation 2 is gone');
  pm.kill('SIGTERM');
  await pm.exited;
});

test('a worker whose warm-up ends as its TERM comes never begins to accept: nothing is accepted that its exit would reset', async () => {
  const pm = await startReloadApp({ n: 2 });
  const second = await deployGeneration2(pm, 'attach-on-term');
  // Its workers wait in their warm-up; the next HUP stops them at once (TERM), and each attaches then.
  for (const pid of second) await pm.waitFor(new RegExp(`reload-app.js \\(pid ${pid}\\): warming up until a TERM comes`), 10_000);
  pm.deploy('ok');
  pm.kill('SIGHUP');
  await pm.waitFor(/reload complete: generation 3, 2 servers accepting/, 20_000);
  const attached = await eventually(() => {
    const lines = pm.lines.filter((line) => /attached after TERM, listening=/.test(line));
    return lines.length === 2 && lines;
  }, 10_000);
  assert.ok(attached, `both stopped workers attached:\n${pm.lines.join('\n')}`);
  for (const line of attached) assert.match(line, /listening=false/);
  assert.ok(await eventually(() => second.every((pid) => !isAlive(pid)), 10_000), 'generation 2 is gone');
  const r = await fcgiRequest(pm.address);
  assert.ok(r.ok);
  assert.equal(releaseOf(r), 'ok');
  pm.kill('SIGTERM');
  await pm.exited;
});

test('TERM during a reload stops every generation, and the manager exits 0', async () => {
  const pm = await startReloadApp({ n: 2, env: { APP_WARMUP_MS: '3000', PM_DIE_TIMEOUT: '20' } });
  pm.kill('SIGHUP');
  await pm.waitFor(/reloading: generation 2/);
  const all = await eventually(() => livePids(pm).length === 4 && livePids(pm), 10_000);
  assert.ok(all, 'old and new workers are up');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
  const gone = await eventually(() => all.every((pid) => !isAlive(pid)), 10_000);
  assert.ok(gone, 'no worker is left');
});

test('max_requests recycles workers under concurrent load, with no failed request and no extra process', async () => {
  const pm = await startReloadApp({ n: 2, env: { PM_MAX_REQUESTS: '25', PM_RELOAD_SURGE: '1', PM_RELOAD_WARMUP: '0' } });
  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, childrenOf(pm.pid).length)), 20);
  const results = await requestLoops(pm.address, { loops: 3, maxEach: 100 }).finished;
  clearInterval(sampler);
  const failed = results.filter((r) => !r.ok);
  assert.equal(failed.length, 0, `${failed.length} of ${results.length} failed`);
  const recycled = pm.lines.filter((line) => /server \(pid \d+\) recycled: reached max_requests \(\d+\)/.test(line));
  // A recycled worker serves on until its replacement accepts, so how many recycles 300 requests
  // bring depends on boot time; at least one per worker.
  assert.ok(recycled.length >= 2, `recycled:\n${pm.lines.join('\n')}`);
  assert.ok(new Set(results.map(pidOfAnswer)).size >= 3, 'answers came from the replacements too');
  assert.ok(most <= 3, `at most n_processes + reload_surge = 3 processes, saw ${most}`);
  pm.kill('SIGTERM');
  await pm.exited;
});

test('max_memory recycles a worker whose RSS passes it; its replacement answers', async () => {
  const pm = await startReloadApp({ n: 1, env: { PM_MAX_MEMORY: '150M' } });
  const [worker] = livePids(pm);
  const grown = await fcgiRequest(pm.address, { query: 'grow=200' });
  assert.ok(grown.ok);
  await pm.waitFor(new RegExp(`server \\(pid ${worker}\\) recycled: RSS \\d+ MiB over max_memory 150 MiB`), 15_000);
  const next = await eventually(async () => {
    const r = await fcgiRequest(pm.address);
    return r.ok && pidOfAnswer(r) !== worker && r;
  }, 15_000);
  assert.ok(next, 'a new worker answers');
  pm.kill('SIGTERM');
  await pm.exited;
});

test('max_requests_jitter spreads the recycles: the workers do not all stop at the same count', async () => {
  const pm = await startReloadApp({ n: 2, env: { PM_MAX_REQUESTS: '5', PM_MAX_REQUESTS_JITTER: '20', PM_RELOAD_WARMUP: '0' } });
  // Each recycle waits for its replacement to boot: the loop runs until several have happened (bounded).
  const load = requestLoops(pm.address, { loops: 3, maxEach: 700, maxMs: 30_000 });
  await eventually(() => pm.count(/recycled: reached max_requests \(\d+\)/) >= 4, 30_000);
  const results = await load.stop();
  assert.equal(results.filter((r) => !r.ok).length, 0);
  // Each worker's own limit, as its recycle line gives it.
  const counts = pm.lines.map((line) => /recycled: reached max_requests \((\d+)\)/.exec(line)?.[1]).filter(Boolean).map(Number);
  assert.ok(counts.length >= 3, `recycles: ${counts}`);
  for (const count of counts) assert.ok(count >= 5 && count <= 25, `each limit is 5 + 0..20, got ${count}`);
  assert.ok(new Set(counts).size >= 2, `the limits differ: ${counts}`);
  pm.kill('SIGTERM');
  await pm.exited;
});
