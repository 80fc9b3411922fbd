'use strict';
// The functional (pm_*) and subclass styles, the n_processes 0 mode, and both module systems.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { ROOT, startHello, livePids, fcgiRequest } = require('../helpers/helpers');

const example = (name) => path.join(ROOT, 'examples', name);
/** Preloaded into an example: logs `request started: <url>` as each request reaches the application. */
const LOG_REQUESTS = path.join(__dirname, '..', 'fixtures', 'log-requests.js');

test('functional style: pm_manage, pm_pre_dispatch and pm_post_dispatch on the default instance', async () => {
  const pm = await startHello({ n: 2, command: process.execPath, args: ['--require', LOG_REQUESTS, example('functional.js')] });
  const res = await fcgiRequest(pm.address);
  assert.ok(res.ok);
  assert.match(res.body, /^functional pid=\d+\n$/);
  // A TERM while a request is in flight: it is answered, then the worker exits. (Its connection alone
  // would hold the worker too; test/integration/dispatch.test.js shows the in-flight count at work on its own.)
  const slow = fcgiRequest(pm.address, { query: 'sleep=1.5' });
  await pm.waitFor(/^request started: \/\?sleep=1\.5 /);
  pm.kill('SIGTERM');
  const answered = await slow;
  assert.ok(answered.ok, answered.stdout + answered.stderr);
  assert.equal((await pm.exited).code, 0);
});

test('subclass style: overridden hooks run in their roles, and ProcManager.Default drives pm_*', async () => {
  const pm = await startHello({ n: 2, script: example('subclass.js') });
  assert.equal(pm.count(/^FastCGI: manager \(pid \d+\): \[subclass\] managingInit: the manager is about to fork$/), 1);
  assert.equal(pm.count(/^FastCGI: server \(pid \d+\): \[subclass\] handlingInit: this worker is ready$/), 2);
  const first = await fcgiRequest(pm.address);
  assert.ok(first.ok);
  assert.match(first.body, /^subclass pid=\d+ served=\d+\n$/);
  // the overridden postDispatch counts: a worker's count grows with the requests it served
  const counts = new Map();
  for (let i = 0; i < 8; i++) {
    const res = await fcgiRequest(pm.address);
    const [, pid, served] = /pid=(\d+) served=(\d+)/.exec(res.body);
    assert.ok(!counts.has(pid) || Number(served) > counts.get(pid), `served grows for ${pid}`);
    counts.set(pid, Number(served));
  }
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('n_processes 0: no manager, the process serves itself and still defers a TERM until its requests finish', async () => {
  const proc = await startHello({ n: 0, waitReady: false, env: { PM_LOG_REQUESTS: '1' } });
  await proc.waitFor(/listening on unix:/);
  assert.equal(livePids(proc).length, 0, 'nothing forked');
  const res = await fcgiRequest(proc.address);
  assert.ok(res.ok);
  assert.match(res.body, new RegExp(`^pid=${proc.pid}\\n$`));
  const slow = fcgiRequest(proc.address, { query: 'sleep=1.5' });
  await proc.waitFor(/^request started: \/\?sleep=1\.5 /);
  proc.kill('SIGTERM');
  const answered = await slow;
  assert.ok(answered.ok, 'the request in flight is answered');
  assert.equal((await proc.exited).code, 0);
  assert.ok(proc.lines.some((l) => l === `FastCGI: server (pid ${proc.pid}): safe exit after SIGTERM`));
});

test('the package loads with require and with import, with the same API', () => {
  const names = ['ProcManager', 'pm_manage', 'pm_die', 'pm_wait', 'pm_write_pid_file', 'pm_remove_pid_file',
    'pm_pre_dispatch', 'pm_post_dispatch', 'pm_change_process_name', 'pm_received_signal', 'pm_parameter',
    'pm_warn', 'pm_notify', 'pm_exit', 'pm_abort', 'pm_attach', 'defaultProcManager'];
  const script = (kind) =>
    kind === 'esm'
      ? `import * as m from 'fcgi-procmanager'; console.log(JSON.stringify(Object.keys(m).filter(k => k !== 'default').sort()))`
      : `const m = require('fcgi-procmanager'); console.log(JSON.stringify(Object.keys(m).sort()))`;
  const esm = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script('esm')], { cwd: ROOT }));
  const cjs = JSON.parse(execFileSync(process.execPath, ['-e', script('cjs')], { cwd: ROOT }));
  for (const name of names) {
    assert.ok(cjs.includes(name), `require exports ${name}`);
    assert.ok(esm.includes(name), `import exports ${name}`);
  }
});

test('pm_* functions act on one lazily created default instance of ProcManager.Default', () => {
  const out = execFileSync(process.execPath, ['-e', `
    const m = require('fcgi-procmanager');
    class Sub extends m.ProcManager {}
    m.ProcManager.Default = Sub;
    m.pm_parameter('n_processes', 7);
    const pm = m.defaultProcManager();
    console.log(JSON.stringify([pm instanceof Sub, pm === m.defaultProcManager(), pm.parameter('n_processes'),
      m.pm_received_signal('HUP', true), m.pm_received_signal('HUP', true), m.pm_received_signal()]));
  `], { cwd: ROOT });
  assert.deepEqual(JSON.parse(out), [true, true, 7, 1, 2, { HUP: 2 }]);
});
