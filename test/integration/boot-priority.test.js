'use strict';
// boot_nice: a replacement worker boots at a lower CPU priority while the workers it replaces serve,
// and gets the manager's own back when it accepts; a worker that replaces missing capacity boots at
// full priority; a manager that could not give the priority back never takes it away. Real managers
// and signals; each thread's nice read from /proc/PID/task/TID/stat.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startHello, startNode, tempDir, eventually, livePids, fcgiRequest, have } = require('../helpers/helpers');
const { bootNiceValue, bootsAtLowPriority, canLowerNiceTo } = require('../../dist/os/boot-priority');
const { BOOT_NICE_MAX_MS } = require('../../dist/pool/boot-nice');
const { validateParameter } = require('../../dist/params');

const RELOAD_APP = path.join(__dirname, '..', 'fixtures', 'reload-app.js');
const isRoot = process.getuid?.() === 0;
/** Long enough to read a worker's priority while it is still starting. */
const WARMUP_MS = 1500;

/** The nice of thread `tid` of `pid`, from its stat (field 19). */
function niceOf(pid, tid = pid) {
  const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}
/** The nice of each thread of `pid` ([] once it is gone). */
function threadNices(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).map((tid) => niceOf(pid, tid));
  } catch {
    return [];
  }
}
const mainThreadNice = (pid) => niceOf(pid);

/** reload-app.js's environment: a release file ("ok"), a warm-up of WARMUP_MS, no reload_warmup. */
function reloadEnv() {
  const releaseFile = path.join(tempDir(), 'release');
  fs.writeFileSync(releaseFile, 'ok');
  fs.chmodSync(path.dirname(releaseFile), 0o755);
  return { APP_RELEASE_FILE: releaseFile, APP_WARMUP_MS: String(WARMUP_MS), PM_RELOAD_WARMUP: '0' };
}

async function startReloadApp(env = {}) {
  const base = reloadEnv();
  const pm = await startHello({ n: 2, script: RELOAD_APP, env: { ...base, ...env } });
  pm.deploy = (what) => fs.writeFileSync(base.APP_RELEASE_FILE, what);
  return pm;
}

/** The pids the manager logged as started after line `from`. */
function startedSince(pm, from) {
  return pm.lines.slice(from).map((l) => /server \(pid (\d+)\) started/.exec(l)?.[1]).filter(Boolean).map(Number);
}

/** Sends HUP and resolves with the two replacements' pids once the manager has logged their fork. */
async function hupReplacements(pm) {
  const from = pm.lines.length;
  pm.kill('SIGHUP');
  assert.ok(await eventually(() => startedSince(pm, from).length === 2, 5_000), 'two replacements forked');
  return startedSince(pm, from);
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
  const initial = '         0          0 4294967295\n';
  const userNamespace = '         0     100000      65536\n';
  assert.equal(canLowerNiceTo(0, status('000001ffffffffff'), limits(0), initial), true, 'root: CAP_SYS_NICE');
  assert.equal(canLowerNiceTo(0, status('000001ffffffffff'), limits(0), userNamespace), false, 'root of a user namespace: the kernel checks the capability in the initial one');
  assert.equal(canLowerNiceTo(0, status('0000000000000000'), limits(0), initial), false, 'no capability, RLIMIT_NICE 0');
  assert.equal(canLowerNiceTo(0, status('0000000000800000'), limits(0), initial), true, 'CAP_SYS_NICE alone (bit 23)');
  assert.equal(canLowerNiceTo(0, status('0000000000000000'), limits(20), userNamespace), true, 'RLIMIT_NICE 20 allows nice 0, in any namespace');
  assert.equal(canLowerNiceTo(0, status('0000000000000000'), limits(15), initial), false, 'RLIMIT_NICE 15 allows down to 5 only');
  assert.equal(canLowerNiceTo(5, status('0000000000000000'), limits(15), initial), true);
  assert.equal(canLowerNiceTo(0, 'Name:\tnode\n', '', ''), false, 'nothing known: no');
});

test('on HUP the replacements boot at nice +10 while the old workers serve, and serve at the manager\'s nice once they accept; a crash\'s replacement boots at full priority', { skip: !isRoot && 'needs root (CAP_SYS_NICE) to give the priority back' }, async () => {
  const pm = await startReloadApp();
  const manager = niceOf(pm.pid);
  const low = Math.min(19, manager + 10);
  const old = livePids(pm);
  assert.deepEqual(old.map(mainThreadNice), [manager, manager], 'the first workers boot at full priority: nobody serves yet');

  const replacements = await hupReplacements(pm);
  // Lowered at fork, before the line was logged; still warming up (WARMUP_MS) while the old serve.
  assert.deepEqual(replacements.map(mainThreadNice), [low, low], `booting at +10: ${replacements.map(threadNices)}`);
  for (const pid of old) assert.equal(mainThreadNice(pid), manager, 'the old workers keep theirs');
  await pm.waitFor(/reload complete: generation 2/, 20_000);
  for (const pid of replacements) assert.ok(threadNices(pid).length > 1 && threadNices(pid).every((n) => n === manager), `accepting: every thread back: ${threadNices(pid)}`);
  assert.ok((await fcgiRequest(pm.address)).ok);

  // kill -9: the pool lacks a worker, so its replacement boots at full priority (read while it
  // still warms up, as above).
  const from = pm.lines.length;
  process.kill(replacements[0], 'SIGKILL');
  assert.ok(await eventually(() => startedSince(pm, from).length === 1, 5_000));
  const [replacement] = startedSince(pm, from);
  assert.equal(mainThreadNice(replacement), manager, 'capacity was missing: full priority');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('a worker booting low gets full priority as soon as the pool lacks a serving worker, and after BOOT_NICE_MAX_MS at the latest', { skip: !isRoot && 'needs root' }, async () => {
  const pm = await startReloadApp();
  const manager = niceOf(pm.pid);
  const old = livePids(pm);
  const hupLine = pm.lines.length;
  const replacements = await hupReplacements(pm);
  assert.deepEqual(replacements.map(mainThreadNice), [manager + 10, manager + 10]);
  process.kill(old[0], 'SIGKILL'); // one serving worker fewer, while the replacements still warm up
  assert.ok(await eventually(() => replacements.every((pid) => mainThreadNice(pid) === manager), 1_000), `promoted: ${replacements.map(threadNices)}`);
  assert.equal(pm.lines.slice(hupLine).some((l) => /reload complete/.test(l)), false, 'before they accepted');
  await pm.waitFor(/reload complete: generation 2/, 20_000);

  // A release that never accepts: its workers boot low for BOOT_NICE_MAX_MS, then at full priority.
  pm.deploy('hang');
  const hupAt = Date.now();
  const hanging = await hupReplacements(pm);
  assert.deepEqual(hanging.map(mainThreadNice), [manager + 10, manager + 10]);
  assert.ok(await eventually(() => hanging.every((pid) => mainThreadNice(pid) === manager), BOOT_NICE_MAX_MS + 3_000), 'given back');
  assert.ok(Date.now() - hupAt >= BOOT_NICE_MAX_MS - 100, 'not before its time');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('boot_nice 0 leaves the replacements at the manager\'s nice', { skip: !isRoot && 'needs root' }, async () => {
  const pm = await startReloadApp({ PM_BOOT_NICE: '0' });
  // Read as soon as they are logged: long before they accept (WARMUP_MS).
  assert.deepEqual((await hupReplacements(pm)).map(mainThreadNice), [niceOf(pm.pid), niceOf(pm.pid)]);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('a manager that could not give the priority back (not root, RLIMIT_NICE 0) never lowers it: it says so for a boot_nice it was given, and nothing at the default', { skip: !isRoot ? 'needs root to start the manager as nobody' : !have('prlimit') && 'needs prlimit (util-linux)' }, async () => {
  const nobody = { uid: 65534, gid: 65534 };
  const dir = tempDir();
  fs.chmodSync(dir, 0o777);
  const asNobody = (script, args, env) => startNode({ command: 'prlimit', args: ['--nice=0:0', process.execPath, script, ...args], env, ...nobody });
  const given = asNobody(RELOAD_APP, [], { ...reloadEnv(), PM_N_PROCESSES: '2', PM_BOOT_NICE: '12', FCGI_LISTEN: path.join(dir, 'given.sock') });
  await given.waitFor(/ready: 2 servers accepting/, 15_000);
  assert.ok(given.lines.some((l) => /boot_nice 12 not used: giving a worker its priority back needs CAP_SYS_NICE \(root, outside a user namespace\) or RLIMIT_NICE/.test(l)), given.lines.join('\n'));
  assert.deepEqual((await hupReplacements(given)).map(mainThreadNice), [niceOf(given.pid), niceOf(given.pid)]);
  given.kill('SIGTERM');
  assert.equal((await given.exited).code, 0);

  // fcgi-pm passes every parameter, the defaults too: still no line for boot_nice's default.
  const cli = asNobody(path.join(__dirname, '..', '..', 'bin', 'fcgi-pm.js'), ['-n', '1', '--listen', path.join(dir, 'cli.sock'), path.join(__dirname, '..', 'fixtures', 'cli-app', 'app.js')], {});
  await cli.waitFor(/ready: 1 server/, 15_000);
  assert.equal(cli.lines.some((l) => /boot_nice/.test(l)), false, cli.lines.join('\n'));
  cli.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0);
});
