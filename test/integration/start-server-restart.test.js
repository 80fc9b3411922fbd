'use strict';
// `start_server --restart` when the new release is broken: its generation exits before it is up, or
// never reports READY=1 (--ready-timeout). --restart fails, the old generation serves throughout, a
// HUP during the wait replaces the pending generation, and a fixed release goes through. Real
// processes (examples/hello.js, small shell programs), real signals, cgi-fcgi requests.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { HELLO, tempDir, fcgiRequest, isAlive, eventually } = require('../helpers/helpers');
const { startStarter, exitedWithOutput, runStarter, requestLoop, readStatus, generationPids, answeringManagers } = require('../fixtures/start-server-tools');

/** Bound for one --restart run: far above what any of them needs, so a hang fails instead of blocking. */
const RESTART_BOUND_MS = 60_000;
/** Bound for one test, so that nothing can hang the run. */
const TEST_BOUND = { timeout: 180_000 };

/** Log waits: generous, the machine is small and busy. */
const WAIT_MS = 30_000;

/** hello.js with 2 workers; its own `listen` points at a path that must never appear. */
function helloEnv(dir) {
  return { PM_N_PROCESSES: '2', FCGI_LISTEN: path.join(dir, 'never-used.sock') };
}

/**
 * A start_server layout with an envdir: `crash(true)` makes hello.js's workers exit at start (so its
 * manager gives up), `hang(true)` makes them start and never serve.
 */
function layout() {
  const dir = tempDir();
  const envdir = path.join(dir, 'env');
  fs.mkdirSync(envdir);
  const files = { dir, envdir, sock: path.join(dir, 'fcgi.sock'), status: path.join(dir, 'status'), pidFile: path.join(dir, 'pid') };
  return {
    ...files,
    common: [`--path=${files.sock}`, `--status-file=${files.status}`, `--pid-file=${files.pidFile}`, `--envdir=${envdir}`],
    restart: (extra = []) => runStarter(['--restart', `--pid-file=${files.pidFile}`, `--status-file=${files.status}`, ...extra], { timeoutMs: RESTART_BOUND_MS }),
    crash: (on) => (on ? fs.writeFileSync(path.join(envdir, 'PM_CRASH_ON_START'), '1\n') : fs.rmSync(path.join(envdir, 'PM_CRASH_ON_START'))),
    hang: (on) => (on ? fs.writeFileSync(path.join(envdir, 'PM_HANG_ON_START'), '1\n') : fs.rmSync(path.join(envdir, 'PM_HANG_ON_START'))),
  };
}

/** The worker pids hello.js's manager `manager` started, from the log. */
function workersOf(proc, manager) {
  const re = new RegExp(`^FastCGI: manager \\(pid ${manager}\\): server \\(pid (\\d+)\\) started$`);
  return proc.lines.map((l) => re.exec(l)).filter(Boolean).map((m) => Number(m[1]));
}

test('broken release: --restart fails (its manager gives up: no worker could start) while the old pool answers every request; the fixed release goes through', TEST_BOUND, async () => {
  const l = layout();
  // --ready-timeout=8: far above what hello.js needs here, far below the default (60) to keep the test short.
  const ss = startStarter([...l.common, '--interval=10', '--ready-timeout=8', '--', process.execPath, HELLO], helloEnv(l.dir));
  await ss.waitFor(/^new worker \d+ is ready$/, WAIT_MS);
  const [gen1] = generationPids(ss);
  assert.ok((await fcgiRequest(l.sock)).ok, 'generation 1 serves');
  const loop = requestLoop(l.sock, { maxRequests: 5_000, maxMs: 120_000 });

  l.crash(true);
  const broken = await l.restart();
  assert.equal(broken.code, 1, `exit status ${broken.code} after ${broken.ms} ms; stderr: ${broken.stderr}`);
  assert.match(
    broken.stderr,
    /^start_server: restart failed: new generation 2 \(pid \d+\) exited before it was up, status:768 \(exit code 3\); the old generation keeps serving\n$/,
  );
  const gen2 = generationPids(ss)[1];
  assert.ok(ss.lines.some((l) => new RegExp(`^FastCGI: manager \\(pid ${gen2}\\): \\d+ servers? exited right after start`).test(l)), 'its workers did crash');
  assert.ok(ss.lines.some((l) => new RegExp(`^FastCGI: manager \\(pid ${gen2}\\): dying: no server could start`).test(l)), 'its manager gave up');
  const lines = readStatus(l.status).split('\n');
  assert.equal(lines[0], `1:${gen1}`, 'generation 1 is still the running one');
  assert.ok(lines.includes(`failed:2:${gen2}:exited before it was up, status:768 (exit code 3)`), lines.join('\n'));
  assert.equal(isAlive(gen2), false);
  const during = await loop.stop();
  assert.deepEqual(during.failures, [], `${during.failures.length} failed requests while the restart failed`);
  assert.ok(during.answered > 10, `only ${during.answered} answered`);
  assert.deepEqual([...answeringManagers(ss, during.pids)], [gen1], 'only generation 1 answered');

  l.crash(false);
  const after = requestLoop(l.sock, { maxRequests: 5_000, maxMs: 120_000 });
  const fixed = await l.restart();
  assert.equal(fixed.code, 0, fixed.stderr);
  const status = readStatus(l.status);
  const [, generation, pid] = /^(\d+):(\d+)\n$/.exec(status) ?? [];
  assert.ok(Number(generation) >= 3 && Number(pid) !== gen1, `only a newer generation is left: ${status}`);
  const res = await fcgiRequest(l.sock);
  assert.ok(res.ok);
  const answeredBy = Number(/pid=(\d+)/.exec(res.body)[1]);
  assert.ok(workersOf(ss, Number(pid)).includes(answeredBy), `a worker of the new generation answers (pid ${answeredBy})`);
  assert.ok(!workersOf(ss, gen1).includes(answeredBy));
  const across = await after.stop();
  assert.deepEqual(across.failures, [], `${across.failures.length} failed requests across the fixed restart`);
  ss.kill('SIGTERM');
  assert.equal((await ss.exited).code, 0);
});

test('a HUP during the wait for a never-ready generation is acted on: that generation is stopped and a newer one starts', TEST_BOUND, async () => {
  const l = layout();
  // --ready-timeout=0: nothing but the HUP ends this wait.
  const ss = startStarter([...l.common, '--interval=10', '--ready-timeout=0', '--', process.execPath, HELLO], helloEnv(l.dir));
  await ss.waitFor(/^new worker \d+ is ready$/, WAIT_MS);
  const [gen1] = generationPids(ss);
  l.hang(true);
  ss.kill('SIGHUP');
  assert.ok(await eventually(() => generationPids(ss).length === 2, WAIT_MS), 'a second generation starts');
  const gen2 = generationPids(ss)[1];
  assert.ok(await eventually(() => ss.count(new RegExp(`^FastCGI: manager \\(pid ${gen2}\\): server \\(pid \\d+\\) started$`)) === 2, WAIT_MS), 'its workers started');
  assert.match(readStatus(l.status), new RegExp(`^1:${gen1}\nstarting:2:${gen2}\n$`), 'the pending generation is in the status file');
  assert.ok((await fcgiRequest(l.sock)).ok, 'the old generation serves');

  l.hang(false);
  ss.kill('SIGHUP');
  await ss.waitFor(new RegExp(`^received HUP, stopping new worker ${gen2} \\(not ready yet\\) with TERM and spawning a new worker$`), WAIT_MS);
  await ss.waitFor(new RegExp(`^FastCGI: manager \\(pid ${gen2}\\): received signal TERM$`), WAIT_MS);
  await ss.waitFor(new RegExp(`^stopped new worker ${gen2} exited, status:0$`), WAIT_MS);
  await ss.waitFor(new RegExp(`^old worker ${gen1} died, status:0$`), WAIT_MS);
  const gen3 = generationPids(ss)[2];
  assert.ok(ss.lines.includes(`new worker ${gen3} is ready`), ss.lines.join('\n'));
  assert.ok(ss.lines.includes(`new worker is now running, sending TERM to old workers:${gen1}`), 'only generation 1 got signal_on_hup');
  assert.equal(readStatus(l.status), `3:${gen3}\n`, ss.lines.join('\n'));
  assert.equal(isAlive(gen2), false);
  const res = await fcgiRequest(l.sock);
  assert.ok(res.ok, res.stdout + res.stderr);
  assert.ok(workersOf(ss, gen3).includes(Number(/pid=(\d+)/.exec(res.body)[1])), `generation 3 answers: ${res.body}; log:\n${ss.lines.join('\n')}`);
  ss.kill('SIGTERM');
  assert.equal((await ss.exited).code, 0);
});

test('--ready-timeout: a generation that says STARTING=1 and never READY=1 is stopped with signal_on_term, then KILLed; --restart fails', TEST_BOUND, async () => {
  const dir = tempDir();
  const status = path.join(dir, 'status');
  const pidFile = path.join(dir, 'pid');
  // Generation 1 is ready at once. Later ones, while `broken` exists, never are, and ignore USR1
  // (signal_on_term here) while `stubborn` exists.
  const program = [
    'echo STARTING=1 >&$SERVER_STARTER_READY_FD',
    'trap "[ -e stubborn ] && echo gen $SERVER_STARTER_GENERATION ignores USR1 >&2 || exit 0" USR1',
    'trap "exit 0" TERM',
    '[ "$SERVER_STARTER_GENERATION" = 1 ] || [ ! -e broken ] && echo READY=1 >&$SERVER_STARTER_READY_FD',
    'while :; do sleep 0.1; done',
  ].join('; ');
  const ss = startStarter([`--path=${path.join(dir, 's.sock')}`, `--status-file=${status}`, `--pid-file=${pidFile}`, `--dir=${dir}`, '--ready-timeout=1.5', '--signal-on-term=USR1', '--', 'sh', '-c', program]);
  await ss.waitFor(/^new worker \d+ is ready$/, WAIT_MS);
  fs.writeFileSync(path.join(dir, 'broken'), '');
  fs.writeFileSync(path.join(dir, 'stubborn'), '');
  const broken = await runStarter(['--restart', `--pid-file=${pidFile}`, `--status-file=${status}`], { timeoutMs: RESTART_BOUND_MS });
  assert.equal(broken.code, 1, `exit status ${broken.code}; stderr: ${broken.stderr}`);
  assert.match(broken.stderr, /^start_server: restart failed: new generation 2 \(pid \d+\) was not ready within 1\.5 s \(--ready-timeout\); the old generation keeps serving\n$/);
  const gen2 = generationPids(ss)[1];
  await ss.waitFor(/^gen 2 ignores USR1$/, WAIT_MS);
  // Not gone after the grace (10 s): KILLed.
  await ss.waitFor(new RegExp(`^stopped new worker ${gen2} exited, status:9 \\(signal KILL\\)$`), 25_000);
  assert.ok(ss.lines.includes(`new worker ${gen2} is not ready within 1.5 s (--ready-timeout); stopping it with USR1`));
  assert.ok(ss.count(/^1 worker in a row failed to start or died soon after; starting again in 0\.5 s$/) >= 1, 'a failed start: the start backoff');
  const [gen1] = generationPids(ss);
  assert.ok(isAlive(gen1), 'generation 1 was left alone');
  fs.rmSync(path.join(dir, 'stubborn'));
  fs.rmSync(path.join(dir, 'broken'));
  ss.kill('SIGTERM');
  assert.equal((await exitedWithOutput(ss)).code, 0);
});

test('exited before it was up (--interval fallback for a program that reports nothing): --restart fails at once, then the fixed release goes through', TEST_BOUND, async () => {
  const dir = tempDir();
  const status = path.join(dir, 'status');
  const pidFile = path.join(dir, 'pid');
  const program = '[ -e broken ] && exit 3; trap "exit 0" TERM; while :; do sleep 0.1; done';
  const ss = startStarter([`--path=${path.join(dir, 's.sock')}`, `--status-file=${status}`, `--pid-file=${pidFile}`, `--dir=${dir}`, '--interval=1', '--', 'sh', '-c', program]);
  assert.ok(await eventually(() => /^1:\d+\n$/.test(readStatus(status) ?? ''), 10_000), 'generation 1 is up after --interval');
  const [gen1] = generationPids(ss);
  fs.writeFileSync(path.join(dir, 'broken'), '');
  const restart = (extra = []) => runStarter(['--restart', `--pid-file=${pidFile}`, `--status-file=${status}`, ...extra], { timeoutMs: RESTART_BOUND_MS });
  const broken = await restart();
  assert.equal(broken.code, 1, `exit status ${broken.code}; stderr: ${broken.stderr}`);
  assert.match(broken.stderr, /^start_server: restart failed: new generation 2 \(pid \d+\) exited before it was up, status:768 \(exit code 3\); the old generation keeps serving\n$/);
  // From start_server's own record, not from the client's bound (--ready-timeout, 60 s by default).
  assert.ok(broken.ms < 30_000, `${broken.ms} ms`);
  assert.ok(ss.lines.some((l) => /^new worker \d+ seems to have failed to start, exit status:768 \(exit code 3\)$/.test(l)));
  assert.ok(isAlive(gen1));
  fs.rmSync(path.join(dir, 'broken'));
  const fixed = await restart();
  assert.equal(fixed.code, 0, fixed.stderr);
  const [, generation, pid] = /^(\d+):(\d+)\n$/.exec(readStatus(status) ?? '') ?? [];
  assert.ok(Number(generation) >= 3 && Number(pid) !== gen1, readStatus(status));
  assert.ok(await eventually(() => !isAlive(gen1), 5_000), 'generation 1 retired');
  ss.kill('SIGTERM');
  assert.equal((await ss.exited).code, 0);
});
