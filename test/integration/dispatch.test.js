'use strict';
// The requests in flight as the application counts them: Perl's functional style with
// attach(server, { dispatch: false }), where the handler calls pm_pre_dispatch()/pm_post_dispatch()
// itself around work that outlives its response (test/fixtures/dispatch-app.js). Once that response
// is sent and its connection closed, only the in-flight count keeps the worker from exiting on a
// TERM or HUP. Also no_signals, and the pm_* functions wait, exit, abort and die, in real processes.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { startNode, tempDir, livePids, waitForReplacement, fcgiRequest, isAlive, eventually } = require('../helpers/helpers');

const APP = path.join(__dirname, '..', 'fixtures', 'dispatch-app.js');

async function startApp({ n = 1, env = {} } = {}) {
  const address = path.join(tempDir(), 'dispatch.sock');
  const app = startNode({ script: APP, args: [address], env: { PM_N_PROCESSES: String(n), ...env } });
  app.address = address;
  await app.waitFor(n === 0 ? /listening on unix:/ : /ready: \d+ servers? accepting/);
  return app;
}

const lineIndex = (app, regex) => app.lines.findIndex((line) => regex.test(line));

/**
 * A request whose work goes on for `seconds` after its answer: answered, and its connection closed on
 * the worker's side, so that nothing but the in-flight count is left to hold the worker.
 */
async function answeredWithWorkLeft(app, pid, seconds) {
  const res = await fcgiRequest(app.address, { query: `after=${seconds}` });
  assert.ok(res.ok, res.stdout + res.stderr);
  assert.equal(res.body, `dispatch pid=${pid}\n`);
  await app.waitFor(new RegExp(`^connection closed \\(pid ${pid}\\)$`));
  // `seconds` is far longer than the two steps above; if the work is already done, the machine was too
  // slow for this test to show anything.
  assert.equal(app.count(/^work done/), 0, 'the work outlives the answer and its connection');
}

test('dispatch: false: a TERM waits for work between pm_pre_dispatch and pm_post_dispatch, after its connection is gone', async () => {
  const app = await startApp({ n: 1 });
  const [worker] = livePids(app);
  await answeredWithWorkLeft(app, worker, 3);
  app.kill('SIGTERM'); // the manager TERMs its worker
  await app.waitFor(new RegExp(`server \\(pid ${worker}\\): safe exit after SIGTERM`), 30_000);
  const workDone = lineIndex(app, new RegExp(`^work done: /\\?after=3 \\(pid ${worker}\\)$`));
  const safeExit = lineIndex(app, new RegExp(`server \\(pid ${worker}\\): safe exit after SIGTERM`));
  assert.ok(workDone >= 0 && workDone < safeExit, `the worker finished the work before it exited:\n${app.lines.join('\n')}`);
  assert.equal((await app.exited).code, 0);
  assert.equal(app.count(/wait timeout|sending KILL/), 0, 'nothing was killed');
});

test('dispatch: false, n_processes 0: the process serving itself waits for the work too', async () => {
  const app = await startApp({ n: 0 });
  await answeredWithWorkLeft(app, app.pid, 3);
  app.kill('SIGTERM');
  const { code } = await app.exited;
  assert.equal(code, 0);
  const workDone = lineIndex(app, /^work done: \/\?after=3 /);
  const safeExit = lineIndex(app, new RegExp(`^FastCGI: server \\(pid ${app.pid}\\): safe exit after SIGTERM$`));
  assert.ok(workDone >= 0 && workDone < safeExit, app.lines.join('\n'));
});

test('dispatch: false: a HUP to a worker waits for the work, the worker exits 0, and a new one serves', async () => {
  const app = await startApp({ n: 1 });
  const [worker] = livePids(app);
  await answeredWithWorkLeft(app, worker, 3);
  process.kill(worker, 'SIGHUP');
  await app.waitFor(new RegExp(`server \\(pid ${worker}\\) exited with status 0$`), 30_000);
  const workDone = lineIndex(app, new RegExp(`^work done: .* \\(pid ${worker}\\)$`));
  const safeExit = lineIndex(app, new RegExp(`server \\(pid ${worker}\\): safe exit after SIGHUP`));
  assert.ok(workDone >= 0 && workDone < safeExit, app.lines.join('\n'));
  const [fresh] = await waitForReplacement(app, [worker], 1);
  const res = await fcgiRequest(app.address);
  assert.equal(res.body, `dispatch pid=${fresh}\n`);
  app.kill('SIGTERM');
  assert.equal((await app.exited).code, 0);
});

test('no_signals: TERM is the application\'s; pm_die TERMs the workers, and pm_post_dispatch exits after the next request', async () => {
  const app = await startApp({ n: 1, env: { PM_NO_SIGNALS: '1' } });
  const [worker] = livePids(app);
  app.kill('SIGTERM');
  await app.waitFor(/^app: manager got SIGTERM$/);
  await app.waitFor(new RegExp(`^FastCGI: manager \\(pid ${app.pid}\\): sending TERM to PIDs, ${worker}$`));
  await app.waitFor(new RegExp(`^app: worker got SIGTERM \\(pid ${worker}\\)$`));
  // The worker installed no handler of its own: its TERM changed nothing but the count, so it still
  // accepts, and answers.
  const res = await fcgiRequest(app.address);
  assert.ok(res.ok, res.stdout + res.stderr);
  assert.equal(res.body, `dispatch pid=${worker}\n`);
  // ... and pm_post_dispatch, seeing the TERM counted, made it exit after that request.
  const { code } = await app.exited;
  assert.equal(code, 0, app.lines.join('\n'));
  assert.ok(app.lines.includes(`FastCGI: server (pid ${worker}): safe exit after SIGTERM`));
  assert.ok(app.lines.includes(`FastCGI: manager (pid ${app.pid}): dying: app: shutting down`));
  // Neither "received signal TERM" nor "ignoring signal TERM": the library's manager handler is not installed.
  assert.deepEqual(app.lines.filter((l) => /^FastCGI: manager .*signal TERM/.test(l)), []);
  assert.equal(isAlive(worker), false);
});

test('pm_wait: in the manager it resolves with the pid of the next worker to exit; in a worker with -1', async () => {
  const app = await startApp({ n: 2 });
  const [victim] = livePids(app);
  const res = await fcgiRequest(app.address, { query: 'wait=1' });
  assert.match(res.body, /^wait=-1\n$/);
  app.kill('SIGUSR2');
  await app.waitFor(/^app: pm_wait$/);
  assert.equal(app.count(/pm_wait resolved/), 0, 'it waits for an exit');
  process.kill(victim, 'SIGKILL');
  assert.equal(await app.waitFor(/^app: pm_wait resolved with /), `app: pm_wait resolved with ${victim}`);
  app.kill('SIGTERM');
  assert.equal((await app.exited).code, 0);
});

test('pm_exit, pm_abort and pm_die in a worker: each exits with its status and message, and the manager replaces it', async () => {
  const app = await startApp({ n: 1 });
  const cases = [
    ['exit=7', 'app: exit', '1792 (exit code 7)'],
    ['exit=0', 'app: exit', '0'],
    ['abort=0', 'app: abort', '256 (exit code 1)'], // abort never exits 0
    ['abort=5', 'app: abort', '1280 (exit code 5)'],
    ['die=3', 'dying: app: die', '768 (exit code 3)'],
  ];
  for (const [query, message, status] of cases) {
    const [worker] = await waitForReplacement(app, [], 1);
    const res = await fcgiRequest(app.address, { query });
    assert.equal(res.ok, false, `${query}: the worker exits before it answers`);
    const exited = await app.waitFor(new RegExp(`server \\(pid ${worker}\\) exited with status `));
    assert.equal(exited, `FastCGI: manager (pid ${app.pid}): server (pid ${worker}) exited with status ${status}`, query);
    assert.ok(app.lines.includes(`FastCGI: server (pid ${worker}): ${message}`), `${query}: ${app.lines.join('\n')}`);
    await waitForReplacement(app, [worker], 1);
  }
  app.kill('SIGTERM');
  assert.equal((await app.exited).code, 0);
});

test('pm_abort in the manager: it KILLs the workers left, a busy one too, logs its message and exits 1', async () => {
  const app = await startApp({ n: 2, env: { PM_USR2: 'abort' } });
  const workers = livePids(app);
  // A worker busy for 20 s more would outlive its manager that long (it finishes its requests first).
  const res = await fcgiRequest(app.address, { query: 'after=20' });
  assert.ok(res.ok);
  app.kill('SIGUSR2');
  const { code, signal } = await app.exited;
  assert.deepEqual({ code, signal }, { code: 1, signal: null });
  const kill = app.lines.indexOf(`FastCGI: manager (pid ${app.pid}): sending KILL to PIDs, ${workers.join(' ')}`);
  const message = app.lines.indexOf(`FastCGI: manager (pid ${app.pid}): app: manager aborts`);
  assert.ok(kill >= 0 && kill < message, app.lines.join('\n'));
  assert.ok(await eventually(() => workers.every((pid) => !isAlive(pid)), 10_000), `workers left: ${workers.filter(isAlive)}`);
  assert.equal(app.count(/^work done/), 0, 'the busy worker was killed, not left to finish');
});
