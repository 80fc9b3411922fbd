'use strict';
// The manager under real signals, with real FastCGI requests from cgi-fcgi: what the library's pool
// does beyond what every entry point does (entry-points.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { startHello, livePids, fcgiRequest, pidOf, eventually, sleep, tempDir } = require('../helpers/helpers');

/** hello.js logs `request started: <url> (pid <pid>)` as each request reaches a worker. */
const LOG_REQUESTS = { PM_LOG_REQUESTS: '1' };
const requestStarted = (query) => new RegExp(`^request started: /\\?${query.replace(/\./g, '\\.')} \\(pid \\d+\\)$`);

test('several workers answer, titled node-fcgi under a node-fcgi-pm manager', async () => {
  const pm = await startHello({ n: 3 });
  const workers = livePids(pm);
  assert.equal(workers.length, 3);
  const seen = new Set();
  for (let i = 0; i < 60 && seen.size < 2; i++) {
    const res = await fcgiRequest(pm.address);
    assert.ok(res.ok, `request ${i} failed: ${res.stdout}${res.stderr}`);
    assert.match(res.stdout, /Content-Type: text\/plain/);
    seen.add(pidOf(res));
  }
  assert.ok(seen.size >= 2, `expected answers from at least 2 workers, got ${[...seen]}`);
  for (const pid of seen) assert.ok(workers.includes(pid), `${pid} is one of the manager's workers`);
  assert.equal(fs.readFileSync(`/proc/${pm.pid}/cmdline`, 'utf8').replace(/\0+$/, ''), 'node-fcgi-pm');
  assert.equal(fs.readFileSync(`/proc/${workers[0]}/cmdline`, 'utf8').replace(/\0+$/, ''), 'node-fcgi');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('with a command line too short for the title, pgrep -x still tells the manager (node-fcgi-pm) from its workers (node-fcgi)', async () => {
  // `node a.js` leaves 9 bytes for the title: process.title cuts node-fcgi-pm to node-fcgi.
  const dir = tempDir();
  fs.copyFileSync(path.join(__dirname, '..', 'fixtures', 'faulty-app.js'), path.join(dir, 'a.js'));
  fs.writeFileSync(path.join(dir, 'a.js'), fs.readFileSync(path.join(dir, 'a.js'), 'utf8')
    .replace("require('node-fastcgi')", `require(${JSON.stringify(require.resolve('node-fastcgi'))})`)
    .replace("require('../..')", `require(${JSON.stringify(path.resolve(__dirname, '..', '..'))})`));
  const pm = await startHello({ n: 2, command: 'node', args: ['a.js'], cwd: dir });
  const workers = livePids(pm);
  assert.equal(fs.readFileSync(`/proc/${pm.pid}/cmdline`, 'utf8').replace(/\0+$/, ''), 'node-fcgi', 'the command line is cut');
  const comm = (pid) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  assert.equal(comm(pm.pid), 'node-fcgi-pm');
  for (const pid of workers) assert.equal(comm(pid), 'node-fcgi');
  const pgrep = (name) => execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).trim().split('\n').map(Number);
  assert.ok(pgrep('node-fcgi-pm').includes(pm.pid), 'pgrep -x node-fcgi-pm finds the manager');
  assert.ok(!pgrep('node-fcgi').includes(pm.pid), 'pgrep -x node-fcgi does not find the manager');
  for (const pid of workers) assert.ok(pgrep('node-fcgi').includes(pid));
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('INT (Ctrl-C) is a graceful shutdown too, and a HUP during shutdown is ignored', async () => {
  const pm = await startHello({ n: 1, env: LOG_REQUESTS });
  const [worker] = livePids(pm);
  const slow = fcgiRequest(pm.address, { query: 'sleep=1.5' });
  await pm.waitFor(requestStarted('sleep=1.5'));
  pm.kill('SIGINT');
  await pm.waitFor(/received signal INT/);
  pm.kill('SIGHUP');
  await pm.waitFor(/ignoring signal HUP/);
  const res = await slow;
  assert.ok(res.ok);
  assert.equal(pidOf(res), worker);
  assert.equal((await pm.exited).code, 0);
  assert.equal(pm.count(/server \(pid \d+\) started/), 1, 'nothing was respawned during shutdown');
});

test('die_timeout 0: no timeout, the manager waits as long as the request in flight takes, and exits 0', async () => {
  const pm = await startHello({ n: 1, env: { PM_DIE_TIMEOUT: '0', ...LOG_REQUESTS } });
  const [worker] = livePids(pm);
  const slow = fcgiRequest(pm.address, { query: 'sleep=3' });
  await pm.waitFor(requestStarted('sleep=3'));
  pm.kill('SIGTERM');
  const res = await slow;
  assert.ok(res.ok, `answered in full: ${res.stdout}${res.stderr}`);
  assert.equal(pidOf(res), worker);
  assert.equal((await pm.exited).code, 0);
  assert.equal(pm.count(/wait timeout|sending KILL/), 0, pm.lines.join('\n'));
  assert.ok(pm.lines.includes(`FastCGI: server (pid ${worker}): safe exit after SIGTERM`));
});

test('workers that die at start, in a pool that never served: respawned with a growing delay, then the manager gives up (exit 3)', async () => {
  const pm = await startHello({ n: 4, waitReady: false, env: { PM_CRASH_ON_START: '1' } });
  // Perl 0.28 forks about 900 times a second here, for ever.
  const { code } = await pm.exited;
  assert.equal(code, 3, pm.lines.join('\n'));
  assert.equal(pm.count(/exited with status 768 \(exit code 3\)/), pm.count(/server \(pid \d+\) started/));
  assert.ok(pm.count(/exited with status 768 \(exit code 3\)/) >= 5);
  const delays = pm.lines.map((l) => /forking again in ([\d.]+) s/.exec(l)).filter(Boolean).map((m) => Number(m[1]));
  assert.ok(delays.length >= 1 && delays.at(-1) >= delays[0], `the delay is logged, and grows: ${delays}`);
  assert.match(pm.lines.at(-1), /dying: no server could start: 5 in a row failed before accepting, and none ever has/);
});

test('bad parameters are refused with a clear message before anything forks', async () => {
  for (const [env, message] of [
    [{ PM_N_PROCESSES: '-1' }, /n_processes must not be negative/],
    [{ PM_N_PROCESSES: '2.5' }, /n_processes must be a whole number/],
    [{ PM_N_PROCESSES: 'lots' }, /n_processes must be a number/],
    [{ PM_DIE_TIMEOUT: '-3' }, /die_timeout must not be negative/],
    [{ FCGI_LISTEN: 'nowhere' }, /listen: cannot parse "nowhere"/],
  ]) {
    const pm = await startHello({ waitReady: false, env });
    const { code } = await pm.exited;
    assert.equal(code, 2, JSON.stringify(env));
    assert.ok(pm.lines.some((l) => message.test(l)), `${JSON.stringify(env)}: ${pm.lines}`);
    assert.equal(pm.count(/started/), 0);
  }
});

test('TCP on port 0: the manager logs the port the kernel chose, and workers answer there', async () => {
  const pm = await startHello({ n: 2, env: { FCGI_LISTEN: '127.0.0.1:0' } });
  const line = await pm.waitFor(/listening on 127\.0\.0\.1:\d+/);
  const port = Number(/:(\d+)$/.exec(line)[1]);
  assert.ok(port > 0);
  const res = await fcgiRequest(`127.0.0.1:${port}`);
  assert.ok(res.ok);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('HUP loads the app code anew from disk', async () => {
  const dir = tempDir();
  const script = path.join(dir, 'versioned.js');
  const source = (version) => `'use strict';
const fcgi = require(${JSON.stringify(require.resolve('node-fastcgi'))});
const { ProcManager } = require(${JSON.stringify(path.resolve(__dirname, '..', '..'))});
(async () => {
  const pm = new ProcManager({ n_processes: 2, listen: process.env.FCGI_LISTEN });
  await pm.manage();
  await pm.attach(fcgi.createServer((req, res) => res.end('version ${version}\\n')));
})();
`;
  fs.writeFileSync(script, source(1));
  const pm = await startHello({ n: 2, script });
  assert.equal((await fcgiRequest(pm.address)).body, 'version 1\n');
  fs.writeFileSync(script, source(2));
  const before = livePids(pm);
  pm.kill('SIGHUP');
  assert.ok(await eventually(() => livePids(pm).length === 2 && before.every((pid) => !livePids(pm).includes(pid)), 8_000), pm.lines.join('\n'));
  // No wait for the new workers: a request made before they listen waits in the manager's backlog.
  const answers = new Set();
  for (let i = 0; i < 6; i++) answers.add((await fcgiRequest(pm.address)).body);
  assert.deepEqual([...answers], ['version 2\n']);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('start_delay spaces the forks; a pid file that cannot be written is a warning, as in Perl', async () => {
  const pm = await startHello({ n: 3, env: { PM_START_DELAY: '0.4', PM_PID_FILE: '/nonexistent-dir/pm.pid' } });
  assert.ok(pm.lines.some((l) => /^FastCGI: manager \(pid \d+\): open: \/nonexistent-dir\/pm\.pid: .*ENOENT/.test(l)));
  const startedAt = pm.times.filter((_, i) => /server \(pid \d+\) started/.test(pm.lines[i]));
  assert.equal(startedAt.length, 3);
  // A lower bound only: a busy machine can make the gaps longer, never shorter.
  assert.ok(startedAt[2] - startedAt[0] >= 700, `3 forks 0.4 s apart took ${startedAt[2] - startedAt[0]} ms`);
  assert.ok((await fcgiRequest(pm.address)).ok, 'the manager runs on without its pid file');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

for (const posix of ['with posix-node', 'without posix-node']) {
  test(`the manager's socket queues connections before any worker listens (${posix})`, async () => {
    const pm = await startHello({ n: 1, waitReady: false, env: posix === 'with posix-node' ? {} : { FCGI_PM_NO_POSIX: '1' } });
    await pm.waitFor(/listening on unix:/);
    // Logged before the first fork: a worker needs far longer than this request to boot and listen.
    const res = await fcgiRequest(pm.address);
    assert.ok(res.ok, `answered, not refused: ${res.stdout}${res.stderr}`);
    pm.kill('SIGTERM');
    assert.equal((await pm.exited).code, 0);
  });
}

const NO_COMPILE_CACHE = typeof require('node:module').enableCompileCache === 'function' ? false : `Node ${process.version} has no compile cache`;

test("compile_cache: the workers keep their compiled code in a folder of the manager's, written as they accept, removed at its exit; off: none", { skip: NO_COMPILE_CACHE }, async () => {
  const os = require('node:os');
  const stale = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgi-pm-compile-cache-4194303-')); // a manager that was killed
  // Node writes each entry to a temporary name first, then renames it: those are not counted.
  const filesIn = (dir) => fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !/\.\w{6}$/.test(e.name));
  const environOf = (pid) => fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  const pm = await startHello({ n: 2 });
  const dir = /the workers' compile cache is (\S+)$/.exec(pm.lines.find((l) => l.includes("the workers' compile cache is")) ?? '')?.[1];
  assert.ok(dir && fs.statSync(dir).isDirectory(), pm.lines.join('\n'));
  assert.equal(fs.existsSync(stale), false, "a killed manager's folder is removed");
  for (const pid of livePids(pm)) assert.ok(environOf(pid).includes(`NODE_COMPILE_CACHE=${dir}`), `worker ${pid} is told where it is`);
  // The first workers write what they compiled once they accept, not only when they exit.
  assert.ok(await eventually(() => filesIn(dir).length > 0, 10_000), `nothing in ${dir}`);
  assert.ok((await fcgiRequest(pm.address)).ok);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
  assert.equal(fs.existsSync(dir), false, 'removed at exit');

  const off = await startHello({ n: 1, env: { PM_COMPILE_CACHE: 'off' } });
  assert.equal(off.count(/compile cache/), 0);
  assert.ok(!environOf(livePids(off)[0]).some((v) => v.startsWith('NODE_COMPILE_CACHE=')));
  off.kill('SIGTERM');
  assert.equal((await off.exited).code, 0);
});
