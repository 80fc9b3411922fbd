'use strict';
// boot_nice: a replacement worker boots at a lower CPU priority while the workers it replaces serve,
// and gets the manager's own back when it accepts; a worker that replaces missing capacity boots at
// full priority; a manager that could not give the priority back never takes it away. Real managers
// and signals; each thread's nice read from /proc/PID/task/TID/stat.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startHello, tempDir, eventually, livePids, fcgiRequest } = require('./helpers');
const { bootNiceValue, bootsAtLowPriority, canLowerNiceTo } = require('../dist/os/boot-priority');
const { validateParameter } = require('../dist/params');

const RELOAD_APP = path.join(__dirname, 'fixtures', 'reload-app.js');
const isRoot = process.getuid?.() === 0;
/** Long enough to read a worker's priority while it is still starting. */
const WARMUP_MS = 1500;

/** The nice of each thread of `pid` ([] once it is gone). */
function threadNices(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    });
  } catch {
    return [];
  }
}
const mainThreadNice = (pid) => threadNices(pid)[0];

async function startReloadApp(env = {}, options = {}) {
  const releaseFile = path.join(tempDir(), 'release');
  fs.writeFileSync(releaseFile, 'ok');
  fs.chmodSync(path.dirname(releaseFile), 0o755);
  return startHello({ n: 2, script: RELOAD_APP, env: { APP_RELEASE_FILE: releaseFile, APP_WARMUP_MS: String(WARMUP_MS), PM_RELOAD_WARMUP: '0', ...env }, ...options });
}

/** The pids the manager logged as started after line `from`. */
function startedSince(pm, from) {
  return pm.lines.slice(from).map((l) => /server \(pid (\d+)\) started/.exec(l)?.[1]).filter(Boolean).map(Number);
}

test('boot_nice is a whole number of nice steps from 0 to 19', () => {
  assert.equal(validateParameter('boot_nice', '5'), 5);
  assert.equal(validateParameter('boot_nice', 0), 0);
  assert.throws(() => validateParameter('boot_nice', '20'), /boot_nice must be from 0 to 19/);
  assert.throws(() => validateParameter('boot_nice', '2.5'), /boot_nice must be a whole number/);
  assert.throws(() => validateParameter('boot_nice', 'low'), TypeError);
});

test('the decisions: who boots low, at what nice, and whether the manager may give it back', () => {
  assert.equal(bootsAtLowPriority(10, 2, 2), true, 'a replacement while the pool is whole');
  assert.equal(bootsAtLowPriority(10, 1, 2), false, 'capacity is missing (a crash, the start, TTIN)');
  assert.equal(bootsAtLowPriority(0, 2, 2), false, 'boot_nice 0: off');
  assert.equal(bootNiceValue(0, 10), 10);
  assert.equal(bootNiceValue(15, 10), 19, 'never past 19');
  const limits = (soft) => `Limit                     Soft Limit           Hard Limit           Units\nMax nice priority         ${soft}                    ${soft}\n`;
  const status = (capEff) => `Name:\tnode\nCapEff:\t${capEff}\n`;
  assert.equal(canLowerNiceTo(0, status('000001ffffffffff'), limits(0)), true, 'root: CAP_SYS_NICE');
  assert.equal(canLowerNiceTo(0, status('0000000000000000'), limits(0)), false, 'no capability, RLIMIT_NICE 0');
  assert.equal(canLowerNiceTo(0, status('0000000000800000'), limits(0)), true, 'CAP_SYS_NICE alone (bit 23)');
  assert.equal(canLowerNiceTo(0, status('0000000000000000'), limits(20)), true, 'RLIMIT_NICE 20 allows nice 0');
  assert.equal(canLowerNiceTo(0, status('0000000000000000'), limits(15)), false, 'RLIMIT_NICE 15 allows down to 5 only');
  assert.equal(canLowerNiceTo(5, status('0000000000000000'), limits(15)), true);
  assert.equal(canLowerNiceTo(0, 'Name:\tnode\n', ''), false, 'nothing known: no');
});

test('on HUP the replacements boot at nice 10 while the old workers serve, and serve at the manager\'s nice once they accept; a crash\'s replacement boots at full priority', { skip: !isRoot && 'needs root (CAP_SYS_NICE) to give the priority back' }, async () => {
  const pm = await startReloadApp();
  const old = livePids(pm);
  assert.deepEqual(old.map(mainThreadNice), [0, 0], 'the first workers boot at full priority: nobody serves yet');

  let from = pm.lines.length;
  pm.kill('SIGHUP');
  assert.ok(await eventually(() => startedSince(pm, from).length === 2, 5_000), 'two replacements forked');
  const replacements = startedSince(pm, from);
  // Lowered at fork, before the line was logged; still warming up (WARMUP_MS) while the old serve.
  assert.deepEqual(replacements.map(mainThreadNice), [10, 10], `booting at 10: ${replacements.map(threadNices)}`);
  assert.equal(pm.lines.slice(from).some((l) => /reload complete/.test(l)), false, 'read before they accepted');
  for (const pid of old) assert.equal(mainThreadNice(pid), 0, 'the old workers keep theirs');
  await pm.waitFor(/reload complete: generation 2/, 20_000);
  for (const pid of replacements) assert.ok(threadNices(pid).length > 1 && threadNices(pid).every((n) => n === 0), `accepting: every thread back at 0: ${threadNices(pid)}`);
  assert.ok((await fcgiRequest(pm.address)).ok);

  // kill -9: the pool lacks a worker, so its replacement boots at full priority (read while it
  // still warms up, as above).
  from = pm.lines.length;
  process.kill(replacements[0], 'SIGKILL');
  assert.ok(await eventually(() => startedSince(pm, from).length === 1, 5_000));
  const [replacement] = startedSince(pm, from);
  assert.equal(mainThreadNice(replacement), 0, 'capacity was missing: full priority');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('boot_nice 0 leaves the replacements at the manager\'s nice', { skip: !isRoot && 'needs root' }, async () => {
  const pm = await startReloadApp({ PM_BOOT_NICE: '0' });
  const from = pm.lines.length;
  pm.kill('SIGHUP');
  assert.ok(await eventually(() => startedSince(pm, from).length === 2, 5_000));
  await new Promise((resolve) => setTimeout(resolve, 300)); // booting, not accepting yet (WARMUP_MS)
  assert.deepEqual(startedSince(pm, from).map(mainThreadNice), [0, 0]);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('a manager that could not give the priority back (not root) never lowers it, and says so when boot_nice was asked for', { skip: !isRoot && 'needs root to start the manager as nobody' }, async () => {
  const nobody = { uid: 65534, gid: 65534 };
  const dir = tempDir();
  fs.chmodSync(dir, 0o777);
  const pm = await startReloadApp({ PM_BOOT_NICE: '10', FCGI_LISTEN: path.join(dir, 'fcgi.sock') }, nobody);
  assert.ok(pm.lines.some((l) => /boot_nice 10 not used: giving a worker its priority back needs CAP_SYS_NICE \(root\) or RLIMIT_NICE/.test(l)), pm.lines.join('\n'));
  const from = pm.lines.length;
  pm.kill('SIGHUP');
  assert.ok(await eventually(() => startedSince(pm, from).length === 2, 5_000));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(startedSince(pm, from).map(mainThreadNice), [0, 0]);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});
