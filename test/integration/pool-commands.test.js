'use strict';
// `fcgi-pm status|reload|stop|scale|top` against real pools started by fcgi-pm (test/fixtures/cli-app),
// over their control sockets: each command's answer, what it did to the pool, and who may use it.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, livePids, fcgiRequest, requestLoops, eventually, sleep, isAlive, have, skipWithout, succeeds } = require('../helpers/helpers');
const { BIN, startCli, runFcgiPm } = require('../helpers/entry-points');
const { RawConnection, request } = require('../helpers/fcgi-raw-client');

/** A request that stays in flight until the test closes its connection (the worker then drops it). */
async function requestInFlight(pool, uri) {
  const conn = await RawConnection.open(pool.address);
  await conn.write(request(1, { params: { REQUEST_URI: uri, QUERY_STRING: uri.split('?')[1] ?? '' } }));
  await pool.waitFor(new RegExp(`request started: ${uri.replace(/[?.]/g, '\\$&')}`));
  return conn;
}

const fcgiPm = runFcgiPm;

/** A pool with a pid file in a folder of its own (readable by all, for the test run as nobody). */
async function startPool({ n = 2, flags = [], env = {} } = {}) {
  const dir = tempDir();
  fs.chmodSync(dir, 0o755);
  const pidFile = path.join(dir, 'app.pid');
  const pool = await startCli({ n, flags: ['--pid-file', pidFile, ...flags], env, listen: path.join(dir, 'fcgi.sock') });
  pool.pidFile = pidFile;
  pool.control = path.join(dir, 'app.control');
  return pool;
}

async function statusJson(pool) {
  const { code, stdout, stderr } = await fcgiPm(['status', '--json', '--pid-file', pool.pidFile]);
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout);
}

const stopPool = async (pool) => {
  if (isAlive(pool.pid)) pool.kill('SIGTERM');
  await pool.exited;
};

test('the control socket sits beside the pid file, mode 0600, and goes with the manager', async () => {
  const pool = await startPool();
  try {
    const stat = fs.statSync(pool.control);
    assert.ok(stat.isSocket());
    assert.equal(stat.mode & 0o777, 0o600);
    assert.equal(stat.uid, process.getuid());
    await pool.waitFor(new RegExp(`control socket on ${pool.control}`));
  } finally {
    await stopPool(pool);
  }
  assert.equal(fs.existsSync(pool.control), false, 'removed when the manager exits');
});

test('status: the pool and one row per worker, as text and as JSON; a request in flight shows with its URI and age', async () => {
  const pool = await startPool();
  try {
    // In flight until closed below: status asks every worker for a fresh report, so it shows at once.
    const slow = await requestInFlight(pool, '/?sleep=60');
    const { code, stdout } = await fcgiPm(['status', '--pid-file', pool.pidFile]);
    assert.equal(code, 0);
    const [first, , , , header, ...rows] = stdout.trimEnd().split('\n');
    assert.match(first, new RegExp(`^node-fcgi-pm \\(pid ${pool.pid}\\): running, generation 1, pm static, up \\d+s$`));
    assert.match(header, /^PID\s+SLOT\s+GEN\s+STATE\s+REQUESTS\s+IN FLIGHT\s+OLDEST\s+OLDEST URI\s+RSS\s+UPTIME$/);
    assert.deepEqual(rows.map((r) => Number(r.split(/\s+/)[0])).sort(), livePids(pool).sort());
    const busy = rows.find((r) => /Running/.test(r));
    assert.match(busy, /Running\s+1\s+1\s+\d+\.\ds\s+\/\?sleep=60\s+\d+ MiB\s+\d+s$/, stdout);

    const json = await statusJson(pool);
    assert.equal(json.manager.pid, pool.pid);
    assert.equal(json.pool.state, 'running');
    assert.equal(json.pool.processes.length, 2);
    const running = json.pool.processes.find((p) => p.state === 'Running');
    assert.equal(running.oldestRequestUri, '/?sleep=60');
    assert.ok(running.requestDuration > 0);
    slow.close();
  } finally {
    await stopPool(pool);
  }
  // No pool: LSB's "not running"; stopping it is done already (LSB: success), said on stderr.
  const gone = await fcgiPm(['status', '--pid-file', pool.pidFile]);
  assert.equal(gone.code, 3, gone.stderr);
  assert.match(gone.stderr, /^fcgi-pm status: no pool is running: nothing at .*app\.control\n$/);
  const stopped = await fcgiPm(['stop', '--pid-file', pool.pidFile]);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stderr, /^fcgi-pm stop: no pool is running: nothing at .*app\.control\n$/);
  // A command word mistyped is not taken for an app.
  const typo = await fcgiPm(['stauts', '--pid-file', pool.pidFile]);
  assert.equal(typo.code, 2);
  assert.equal(typo.stderr, 'fcgi-pm: stauts is neither an app nor a command (did you mean fcgi-pm status?); see fcgi-pm --help\n');
});

test('reload: returns once the new generation serves, under a request loop that sees no failure; --no-wait returns at once', async () => {
  const pool = await startPool();
  try {
    const before = livePids(pool);
    const loops = requestLoops(pool.address, { loops: 2, maxEach: 2_000, maxMs: 30_000 });
    await sleep(300);
    const reload = await fcgiPm(['reload', '--pid-file', pool.pidFile]);
    assert.equal(reload.code, 0, reload.stderr);
    assert.match(reload.stdout, /^reload complete: generation 2 in [\d.]+ s\n$/);
    // Complete when it returned: the new generation serves, none of the old accepts.
    const json = await statusJson(pool);
    assert.equal(json.pool.generation, 2);
    const serving = json.pool.processes.filter((p) => p.state === 'Idle' || p.state === 'Running');
    assert.deepEqual(serving.map((p) => p.generation), [2, 2], JSON.stringify(json.pool.processes));
    const results = await loops.stop();
    assert.ok(results.length > 0);
    assert.deepEqual(results.filter((r) => !r.ok), [], `no failed request across the reload (${results.length} answered)`);
    assert.ok(await eventually(() => livePids(pool).every((pid) => !before.includes(pid)), 10_000));

    const noWait = await fcgiPm(['reload', '--no-wait', '--pid-file', pool.pidFile]);
    assert.equal(noWait.code, 0, noWait.stderr);
    assert.match(noWait.stdout, /^reloading: generation 3\n$/);
    await pool.waitFor(/reload complete: generation 3/, 20_000);
  } finally {
    await stopPool(pool);
  }
});

test('reload onto a release that fails to load: exit 1 with the reason, and the old workers serve on', async () => {
  const crashFlag = path.join(tempDir(), 'broken');
  const pool = await startPool({ env: { CLI_APP_CRASH_ON_START: crashFlag }, flags: ['--reload-timeout', '20'] });
  try {
    const before = livePids(pool).sort();
    fs.writeFileSync(crashFlag, '');
    const reload = await fcgiPm(['reload', '--pid-file', pool.pidFile]);
    assert.equal(reload.code, 1, reload.stdout);
    assert.match(reload.stderr, /^fcgi-pm reload: reload abandoned: generation 2: server \(pid \d+\) exited before it accepted; generation 1 keeps serving\n$/);
    // The abandoned generation's other workers are stopped; the same ones as before serve.
    const same = () => JSON.stringify(livePids(pool).sort()) === JSON.stringify(before);
    assert.ok(await eventually(same, 10_000), `the same workers: ${livePids(pool)} (${before})`);
    assert.equal((await fcgiRequest(pool.address)).ok, true, 'and they answer');
    fs.rmSync(crashFlag);
    const fixed = await fcgiPm(['reload', '--pid-file', pool.pidFile]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(fixed.stdout, /^reload complete: generation 3/);
  } finally {
    await stopPool(pool);
  }
});

test('stop: returns once the manager has exited, after the request in flight is answered, with its exit status', async () => {
  const pool = await startPool();
  const slow = fcgiRequest(pool.address, { query: 'sleep=2' });
  await pool.waitFor(/request started: \/\?sleep=2/);
  const stop = await fcgiPm(['stop', '--pid-file', pool.pidFile]);
  const answered = await slow;
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout, 'stopped: the manager exited with status 0\n');
  assert.equal(answered.ok, true, 'the request in flight was answered');
  // The manager removes its control socket as it exits, before it answers the stop.
  assert.equal(fs.existsSync(pool.control), false, 'the manager was exiting when stop returned');
  assert.equal((await pool.exited).code, 0);
  assert.match(pool.lines.join('\n'), /stop asked on the control socket[\s\S]*dying: safe exit asked on the control socket/);

  // A stop cut short by die_timeout passes on the manager's status 1.
  const stuck = await startPool({ flags: ['--die-timeout', '1'] });
  const long = fcgiRequest(stuck.address, { query: 'sleep=5' });
  await stuck.waitFor(/request started: \/\?sleep=5/);
  const cut = await fcgiPm(['stop', '--pid-file', stuck.pidFile]);
  assert.equal(cut.code, 1, cut.stderr);
  assert.equal(cut.stdout, 'stopped: the manager exited with status 1\n');
  await long;
  await stuck.exited;
});

test('scale: up and down, as TTIN and TTOU would, without signals; a bad count is refused', async () => {
  const pool = await startPool({ n: 2 });
  try {
    const up = await fcgiPm(['scale', '4', '--pid-file', pool.pidFile]);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.stdout, 'scale to 4 asked on the control socket: 4 servers\n');
    assert.ok(await eventually(async () => (await statusJson(pool)).pool.idleProcesses === 4, 20_000));
    const down = await fcgiPm(['scale', '1', '--pid-file', pool.pidFile]);
    assert.equal(down.code, 0, down.stderr);
    assert.ok(await eventually(() => livePids(pool).length === 1, 20_000), pool.lines.join('\n'));
    assert.equal((await statusJson(pool)).pool.totalProcesses, 1);
    for (const bad of [['scale'], ['scale', '0'], ['scale', 'two'], ['scale', '2', '3']]) {
      const refused = await fcgiPm([...bad, '--pid-file', pool.pidFile]);
      assert.equal(refused.code, 2, bad.join(' '));
      assert.match(refused.stderr, /^fcgi-pm scale: scale takes one number of workers, 1 or more/);
    }
  } finally {
    await stopPool(pool);
  }
});

test('the pool is found by --control, --pid-file or --config alike; naming none, or two, is a usage error', async () => {
  const dir = tempDir();
  const config = path.join(dir, 'pool.json');
  fs.writeFileSync(config, JSON.stringify({ control: path.join(dir, 'pool.control') }));
  const pool = await startCli({ flags: ['--config', config], listen: path.join(dir, 'fcgi.sock') });
  try {
    for (const how of [['--config', config], ['--control', path.join(dir, 'pool.control')]]) {
      const { code, stdout } = await fcgiPm(['status', ...how]);
      assert.equal(code, 0, how.join(' '));
      assert.match(stdout, new RegExp(`\\(pid ${pool.pid}\\): running`));
    }
    const checked = await fcgiPm(['--check-config', '--config', config, '-l', path.join(dir, 'other.sock'), 'app.js']);
    assert.equal(JSON.parse(checked.stdout).control_socket, path.join(dir, 'pool.control'), '--check-config says where the control socket will be');
    const viaEnv = await fcgiPm(['status'], { env: { PM_CONTROL: path.join(dir, 'pool.control') } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const none = await fcgiPm(['status'], { env: { PM_CONTROL: '', PM_PID_FILE: '', RUNTIME_DIRECTORY: '' } });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /which pool\? give --control PATH, --pid-file FILE or --config FILE/);
    const two = await fcgiPm(['status', '--config', config, '--control', 'x']);
    assert.equal(two.code, 2);
    assert.match(two.stderr, /--control and --config both name a pool: give one/);
  } finally {
    await stopPool(pool);
  }
});

test('a second pool on a control socket in use is refused before it forks; --check-config refuses what a start does', async () => {
  const pool = await startPool();
  try {
    const second = await fcgiPm(['-n', '1', '--listen', path.join(tempDir(), 'other.sock'), '--control', pool.control, 'app.js']);
    assert.equal(second.code, 2);
    assert.match(second.stderr, /^fcgi-pm: control .*app\.control: in use: a running pool answers on it\n$/);
    assert.doesNotMatch(second.stderr, /started/);
    const missing = path.join(tempDir(), 'no-such-folder', 'x.control');
    for (const check of [['--check-config'], []]) {
      const refused = await fcgiPm([...check, '-n', '1', '--listen', path.join(tempDir(), 'other.sock'), '--control', missing, 'app.js']);
      assert.equal(refused.code, 2, check.join(' '));
      assert.match(refused.stderr, /^fcgi-pm: control .*x\.control: ENOENT \(no such file or directory\): no directory /, refused.stderr);
    }
  } finally {
    await stopPool(pool);
  }
});

const nobody = (() => {
  try {
    return { uid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' })) };
  } catch {
    return undefined;
  }
})();

test('the control socket refuses a user who may not signal the pool; control_group lets its members in', { skip: skipWithout(process.getuid() === 0 && nobody, 'needs root and the nobody account') }, async () => {
  const pool = await startPool();
  try {
    // Root could read everything the test made: the client runs as nobody, as another user would.
    for (const args of [['status'], ['reload'], ['stop'], ['scale', '5']]) {
      const refused = await fcgiPm([...args, '--control', pool.control], nobody);
      assert.equal(refused.code, 4, `${args[0]}: ${refused.stderr}`);
      assert.match(refused.stderr, /permission denied: only the pool's owner \(and its control_group\) may use its control socket/);
    }
    assert.equal(isAlive(pool.pid), true);
    assert.equal(livePids(pool).length, 2, 'nothing changed');
    assert.doesNotMatch(pool.lines.join('\n'), /asked on the control socket/);
  } finally {
    await stopPool(pool);
  }
  const group = execFileSync('id', ['-gn', 'nobody'], { encoding: 'utf8' }).trim();
  const shared = await startPool({ flags: ['--control-group', group] });
  try {
    const stat = fs.statSync(shared.control);
    assert.equal(stat.mode & 0o777, 0o660);
    assert.equal(stat.gid, nobody.gid);
    const allowed = await fcgiPm(['status', '--control', shared.control], nobody);
    assert.equal(allowed.code, 0, allowed.stderr);
  } finally {
    await stopPool(shared);
  }
});

test('top: a live view in tmux that shows each worker and updates; q leaves it and the terminal as they were', { skip: skipWithout(have('tmux'), 'needs tmux') }, async () => {
  const pool = await startPool();
  const session = `fcgi-pm-top-${process.pid}`;
  const tmux = (...args) => execFileSync('tmux', args, { encoding: 'utf8' });
  const screen = () => tmux('capture-pane', '-p', '-t', session);
  const exitFile = path.join(tempDir(), 'exit');
  try {
    tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '30', `${process.execPath} ${BIN} top --pid-file ${pool.pidFile}; echo $? > ${exitFile}; sleep 60`);
    const pids = livePids(pool);
    assert.ok(await eventually(() => pids.every((pid) => new RegExp(`^${pid}\\s+1\\s+Idle`, 'm').test(screen())), 10_000), screen());
    assert.match(screen(), /· 0 in flight/);
    // Requests in flight show on the next frames: the header counts them, their workers run.
    const slow = [await requestInFlight(pool, '/?sleep=60'), await requestInFlight(pool, '/?sleep=61')];
    assert.ok(await eventually(() => /· 2 in flight/.test(screen()) && /Running/.test(screen()), 10_000), screen());
    for (const conn of slow) conn.close();
    tmux('send-keys', '-t', session, 'q');
    assert.ok(await eventually(() => fs.existsSync(exitFile) && fs.readFileSync(exitFile, 'utf8').trim() === '0', 5_000), screen());
    assert.doesNotMatch(screen(), /q or Ctrl-C to quit/, 'the alternate screen is left');
  } finally {
    if (succeeds('tmux', ['has-session', '-t', session])) tmux('kill-session', '-t', session);
    await stopPool(pool);
  }
});
