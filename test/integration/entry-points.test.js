'use strict';
// What a pool does whichever way it was started, run once over each entry point: the library
// (examples/hello.js) and fcgi-pm with an unchanged app (test/helpers/entry-points.js). Real
// managers, real signals and real FastCGI requests from cgi-fcgi.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { livePids, waitForReplacement, fcgiRequest, pidOf, isAlive, eventually, tempDir } = require('../helpers/helpers');
const { ENTRY_POINTS } = require('../helpers/entry-points');

const requestStarted = (query) => new RegExp(`^request started: /\\?${query.replace(/\./g, '\\.')} \\(pid \\d+\\)$`);

/** The parent pid of a process, from /proc. */
function parentOf(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

for (const { name, start } of ENTRY_POINTS) {
  test(`${name}: a killed worker is replaced: the old process is gone, a new child of the manager answers`, async () => {
    const pm = await start({ n: 2 });
    const [victim, survivor] = livePids(pm);
    process.kill(victim, 'SIGKILL');
    await pm.waitFor(new RegExp(`server \\(pid ${victim}\\) exited with status 9 \\(signal KILL\\)`));
    const now = await waitForReplacement(pm, [victim], 2);
    assert.ok(now.includes(survivor), `the survivor ${survivor} stays: ${now}`);
    const [fresh] = now.filter((pid) => pid !== survivor);
    assert.equal(isAlive(victim), false, `/proc: the killed worker ${victim} is gone`);
    assert.ok(isAlive(fresh), `/proc: the new worker ${fresh} runs`);
    assert.equal(parentOf(fresh), pm.pid, 'the new worker is a child of the manager');
    assert.equal(fs.readFileSync(`/proc/${fresh}/cmdline`, 'utf8').replace(/\0+$/, ''), 'node-fcgi');
    // With the survivor stopped (SIGSTOP: it accepts nothing), only the new worker can answer.
    process.kill(survivor, 'SIGSTOP');
    let res;
    try {
      res = await fcgiRequest(pm.address);
    } finally {
      process.kill(survivor, 'SIGCONT');
    }
    assert.ok(res.ok, res.stdout + res.stderr);
    assert.equal(pidOf(res), fresh, 'the new worker answers a real request');
    pm.kill('SIGTERM');
    assert.equal((await pm.exited).code, 0);
    assert.equal(pm.count(/server \(pid \d+\) started/), 3, 'one fork replaced the one killed worker');
  });

  test(`${name}: HUP replaces every worker while a request loop sees no failure`, async () => {
    const pm = await start({ n: 2 });
    const before = livePids(pm);
    const failures = [];
    const answeredBy = new Set();
    let answered = 0;
    let stop = false;
    // A bounded loop: at most 2,000 requests and 30 seconds (two rolling reloads, each with its warm-up).
    const loop = (async () => {
      const deadline = Date.now() + 30_000;
      for (let i = 0; i < 2_000 && !stop && Date.now() < deadline; i++) {
        const res = await fcgiRequest(pm.address);
        if (res.ok) {
          answered++;
          answeredBy.add(pidOf(res));
        } else failures.push(res);
      }
    })();
    assert.ok(await eventually(() => answered >= 3, 10_000), 'the loop runs before the first HUP');
    pm.kill('SIGHUP');
    const middle = await waitForReplacement(pm, before, 2, 15_000);
    pm.kill('SIGHUP'); // a second reload, once the first replacements serve
    const after = await waitForReplacement(pm, middle, 2, 15_000);
    const mark = answered;
    assert.ok(await eventually(() => answered >= mark + 3, 10_000), `the loop goes on after the second reload (${answered} answered)`);
    stop = true;
    await loop;
    assert.deepEqual(failures, [], `${failures.length} failed requests`);
    assert.ok(answered > 10, `only ${answered} requests answered`);
    assert.ok(after.some((pid) => answeredBy.has(pid)), 'the newest workers answered');
    assert.equal(pm.count(/received signal HUP/), 2);
    for (const pid of [...before, ...middle]) {
      assert.ok(!after.includes(pid), `worker ${pid} was replaced`);
      assert.equal(isAlive(pid), false);
      assert.ok(pm.lines.includes(`FastCGI: server (pid ${pid}): safe exit after SIGTERM`), `${pid} exits gracefully`);
    }
    pm.kill('SIGTERM');
    assert.equal((await pm.exited).code, 0);
  });

  test(`${name}: TERM during a slow request: it finishes with its full body, the manager exits 0, the pid file is gone`, async () => {
    const pidFile = path.join(tempDir(), 'pm.pid');
    const pm = await start({ n: 2, pidFile });
    assert.equal(fs.readFileSync(pidFile, 'utf8'), `${pm.pid}\n`, 'the pid file names the manager');
    const slow = fcgiRequest(pm.address, { query: 'sleep=2' });
    const started = await pm.waitFor(requestStarted('sleep=2'));
    const busy = Number(/\(pid (\d+)\)$/.exec(started)[1]);
    pm.kill('SIGTERM');
    const res = await slow;
    assert.ok(res.ok, `the in-flight request completes: ${res.stdout}${res.stderr}`);
    assert.equal(res.body, `pid=${busy}\n`);
    assert.equal((await pm.exited).code, 0);
    // The manager waited for the request: the busy worker's exit comes before the manager's.
    const workerExit = pm.lines.indexOf(`FastCGI: server (pid ${busy}): safe exit after SIGTERM`);
    const managerExit = pm.lines.indexOf(`FastCGI: manager (pid ${pm.pid}): dying: safe exit from signal TERM`);
    assert.ok(workerExit >= 0 && workerExit < managerExit, pm.lines.join('\n'));
    assert.equal(fs.existsSync(pidFile), false);
    assert.equal(pm.count(/received signal TERM/), 1);
    assert.ok(pm.lines.some((l) => /^FastCGI: manager \(pid \d+\): sending TERM to PIDs, \d+ \d+$/.test(l)));
  });

  test(`${name}: a request longer than die_timeout: the manager KILLs it and exits 1 shortly after the timeout`, async () => {
    const pm = await start({ n: 1, dieTimeout: 1 });
    const [worker] = livePids(pm);
    const slow = fcgiRequest(pm.address, { query: 'sleep=30' });
    await pm.waitFor(requestStarted('sleep=30'));
    const termAt = Date.now();
    pm.kill('SIGTERM');
    const { code, at } = await pm.exited;
    assert.equal(code, 1);
    const waited = at - termAt;
    // Not before die_timeout; and well before the 30 s the request would take.
    assert.ok(waited >= 900 && waited < 25_000, `exited ${waited} ms after TERM (die_timeout 1 s)`);
    assert.ok(pm.lines.some((l) => /wait timeout/.test(l)), pm.lines.join('\n'));
    assert.ok(await eventually(() => !isAlive(worker), 10_000), 'the worker was killed');
    assert.equal((await slow).ok, false, 'the request was cut off, as asked');
  });

  test(`${name}: kill -9 of the manager leaves no worker alive: idle ones exit at once, busy ones after their request`, async () => {
    const pm = await start({ n: 3 });
    const workers = livePids(pm);
    const slow = fcgiRequest(pm.address, { query: 'sleep=1' });
    await pm.waitFor(requestStarted('sleep=1'));
    pm.kill('SIGKILL');
    assert.ok((await slow).ok, 'the busy worker answered its request before exiting');
    assert.ok(await eventually(() => workers.every((pid) => !isAlive(pid)), 10_000), `orphans left: ${workers.filter(isAlive)}`);
    assert.ok(pm.count(/safe exit: manager has died/) >= 1, pm.lines.join('\n'));
  });

  test(`${name}: a socket path in use by a running server is refused (exit 2, nothing forked); a stale one is replaced`, async () => {
    const first = await start({ n: 1 });
    const firstWorkers = livePids(first);
    const second = await start({ n: 1, listen: first.address, waitReady: false });
    assert.equal((await second.exited).code, 2);
    assert.ok(second.lines.some((l) => /is in use by a running server/.test(l)), second.lines.join('\n'));
    assert.equal(second.count(/started/), 0, 'nothing forked');
    first.kill('SIGKILL'); // leaves the socket file behind, and its workers exit
    await first.exited;
    // A worker still alive would hold the socket open, and answer the probe.
    assert.ok(await eventually(() => firstWorkers.every((pid) => !isAlive(pid)), 10_000), `workers left: ${firstWorkers.filter(isAlive)}`);
    assert.ok(fs.existsSync(first.address));
    const third = await start({ n: 1, listen: first.address });
    assert.ok((await fcgiRequest(third.address)).ok);
    third.kill('SIGTERM');
    assert.equal((await third.exited).code, 0);
    assert.equal(fs.existsSync(first.address), false, 'the manager removes its socket file at exit');
  });
}
