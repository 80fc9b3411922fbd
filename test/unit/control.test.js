'use strict';
// The control socket's pure parts: where it is, its protocol, the commands' arguments, and what
// `fcgi-pm status` and `fcgi-pm top` draw.

const test = require('node:test');
const assert = require('node:assert/strict');

const { controlSocketPath } = require('../../dist/control/path');
const { parseRequest, encodeLine, CONTROL_PROTOCOL_VERSION } = require('../../dist/control/protocol');
const { renderStatus, formatDuration, table } = require('../../dist/control/status-text');
const { bar, requestRates, renderTop } = require('../../dist/control/top-screen');
const { parseCommand } = require('../../dist/cli/pool-commands');
const { validateParameter } = require('../../dist/params');

test('the control socket: given, else beside the pid file, else in $RUNTIME_DIRECTORY, else none; off turns the default off', () => {
  const env = { RUNTIME_DIRECTORY: '/run/app:/run/other' };
  assert.equal(controlSocketPath({ control: 'ctl.sock', pid_fname: '/run/x.pid' }, env, '/srv'), '/srv/ctl.sock');
  assert.equal(controlSocketPath({ pid_fname: '/run/app.pid' }, env), '/run/app.control');
  assert.equal(controlSocketPath({ pid_fname: 'var/app' }, {}, '/srv'), '/srv/var/app.control');
  assert.equal(controlSocketPath({}, env), '/run/app/fcgi-pm.control');
  assert.equal(controlSocketPath({}, {}), undefined);
  assert.equal(controlSocketPath({ control: false, pid_fname: '/run/app.pid' }, env), undefined);
  assert.equal(validateParameter('control', 'off'), false);
  assert.throws(() => validateParameter('control', `/${'x'.repeat(107)}`), /control: a unix socket path holds at most 107 bytes, got 108/);
  assert.throws(() => validateParameter('control', 3), /control must be a socket path or 'off', got 3/);
});

test('protocol: one JSON object a line, versioned; each command checked, a bad line answered with why', () => {
  const v = CONTROL_PROTOCOL_VERSION;
  assert.deepEqual(parseRequest(`{"v":${v},"cmd":"status"}`), { cmd: 'status' });
  assert.deepEqual(parseRequest(`{"v":${v},"cmd":"reload"}`), { cmd: 'reload', wait: true });
  assert.deepEqual(parseRequest(`{"v":${v},"cmd":"reload","wait":false}`), { cmd: 'reload', wait: false });
  assert.deepEqual(parseRequest(`{"v":${v},"cmd":"scale","workers":3}`), { cmd: 'scale', workers: 3 });
  assert.deepEqual(parseRequest(`{"v":${v},"cmd":"stop"}`), { cmd: 'stop' });
  const errors = {
    'status': /not a JSON object: one request a line/,
    '[1]': /not a JSON object/,
    '{"cmd":"status"}': /protocol version null is not spoken here: this manager speaks version 1/,
    '{"v":2,"cmd":"status"}': /protocol version 2 is not spoken here/,
    [`{"v":${v},"cmd":"restart"}`]: /unknown command "restart": one of status, reload, stop, scale/,
    [`{"v":${v},"cmd":"scale","workers":0}`]: /scale: workers must be a whole number, 1 or more, got 0/,
    [`{"v":${v},"cmd":"scale","workers":"2"}`]: /got "2"/,
    [`{"v":${v},"cmd":"reload","wait":"no"}`]: /reload: wait must be true or false/,
  };
  for (const [line, error] of Object.entries(errors)) assert.match(parseRequest(line).error, error, line);
  assert.equal(encodeLine({ ok: true, cmd: 'stop', exitStatus: 0 }), `{"v":${v},"ok":true,"cmd":"stop","exitStatus":0}\n`);
});

test('the commands: their options and arguments, refused with one line', () => {
  assert.deepEqual(parseCommand('status', ['--json', '--pid-file', 'a.pid']).request, { cmd: 'status' });
  assert.deepEqual(parseCommand('reload', ['--no-wait']).request, { cmd: 'reload', wait: false });
  assert.deepEqual(parseCommand('reload', []).request, { cmd: 'reload', wait: true });
  assert.deepEqual(parseCommand('scale', ['3', '--control', 'x']).request, { cmd: 'scale', workers: 3 });
  assert.throws(() => parseCommand('status', ['--no-wait']), /--no-wait is not an option of status/);
  assert.throws(() => parseCommand('stop', ['now']), /stop takes no argument, got now/);
  assert.throws(() => parseCommand('scale', ['-1']), /^Error: scale takes one number of workers, 1 or more/, 'a negative count, which reads as an option');
  assert.throws(() => parseCommand('status', ['--pidfile', 'a.pid']), /^Error: unknown option --pidfile \(did you mean --pid-file\?\)$/);
  assert.throws(() => parseCommand('reload', ['--no-wiat']), /unknown option --no-wiat \(did you mean --no-wait\?\)/);
  assert.throws(() => parseCommand('status', ['--control']), /--control needs a value/);
  assert.throws(() => parseCommand('scale', ['0']), /scale takes one number of workers, 1 or more/);
  assert.throws(() => parseCommand('status', ['--timeout', 'soon']), /--timeout takes seconds, 0 or more, got soon/);
  assert.throws(() => parseCommand('status', ['--jsn']), /unknown option --jsn \(did you mean --json\?\)/);
});

function snapshot(overrides = {}) {
  const processes = [
    { pid: 101, slot: 0, generation: 2, state: 'Running', requests: 1500, requestsInFlight: 1, requestDuration: 2_345_000, oldestRequestUri: '/report?year=2026', rssBytes: 60 * 2 ** 20, startSince: 3725 },
    { pid: 102, slot: 1, generation: 2, state: 'Idle', requests: 20, requestsInFlight: 0, requestDuration: 0, oldestRequestUri: '-', rssBytes: 0, startSince: 42 },
  ];
  return {
    pool: 'app', processManager: 'static', startSince: 90_000, state: 'running', generation: 2, maxChildren: 2, activeProcesses: 1, idleProcesses: 1,
    totalProcesses: 2, requestsInFlight: 1, acceptedConn: 1520, listenQueue: 0, listenQueueLen: 511, reloads: 1, recycles: 0, slowRequests: 0,
    watchdogKills: 0, quickExits: 0, respawnDelayMs: 0, requestSpread: null, processes, ...overrides,
  };
}

test('status as text: the pool in three lines, then one aligned row per worker', () => {
  assert.deepEqual([0, 59, 60, 3725, 90_000].map(formatDuration), ['0s', '59s', '1m00s', '1h02m', '1d01h']);
  assert.equal(table([['A', 'LONG'], ['xyz', 'b']]), 'A    LONG\nxyz  b');
  const text = renderStatus({ pid: 100, title: 'app' }, snapshot());
  assert.equal(
    text,
    [
      'app (pid 100): running, generation 2, pm static, up 1d01h',
      '2 servers wanted: 1 busy, 1 idle, 0 starting or finishing; 1 request in flight, 1520 accepted, listen queue 0 of 511',
      'reloads 1, recycles 0, slow requests 0, watchdog kills 0',
      '',
      'PID  SLOT  GEN  STATE    REQUESTS  IN FLIGHT  OLDEST  OLDEST URI         RSS     UPTIME',
      '101  0     2    Running  1500      1          2.3s    /report?year=2026  60 MiB  1h02m',
      '102  1     2    Idle     20        0          -       -                  -       42s',
      '',
    ].join('\n'),
  );
  assert.match(renderStatus({ pid: 1, title: 'app' }, snapshot({ processManager: 'dynamic', maxChildren: 8, quickExits: 3, respawnDelayMs: 4000 })), /^max_children 8: [\s\S]*, 3 quick exits \(next fork in 4 s\)$/m);
  assert.match(renderStatus({ pid: 1, title: 'app' }, snapshot({ requestSpread: 1.234 })), /, listen queue 0 of 511, spread 1\.23× \(busiest \/ least busy worker\)$/m);
});

test('top: requests per second between two answers, bars in proportion, a new worker without a rate yet', () => {
  assert.equal(bar(5, 10, 10), '█████░░░░░');
  assert.equal(bar(0, 0, 4), '░░░░');
  assert.equal(bar(30, 10, 4), '████');
  const before = snapshot();
  const after = snapshot({ processes: [{ ...before.processes[0], requests: 1600 }, { ...before.processes[1], pid: 103, requests: 5 }] });
  const rates = requestRates(before, after, 2);
  assert.deepEqual([...rates], [[101, 50]]);
  assert.equal(requestRates(undefined, after, 1).size, 0);
  const screen = renderTop({ pid: 100, title: 'app' }, after, rates);
  assert.match(screen, /^app \(pid 100\) · running · generation 2 · pm static · up 1d01h\n2 servers: 1 busy, 1 idle · 50\.0 req\/s · 1 in flight · listen queue 0 of 511\n/);
  assert.match(screen, /^101\s+2\s+Running\s+█{20} 50\.0\s+1\s+█{10} 60 MiB$/m);
  assert.match(screen, /^103\s+2\s+Idle\s+░{20} -\s+0\s+░{10} -$/m);
  assert.match(screen, /q or Ctrl-C to quit$/);
  assert.match(renderTop({ pid: 100, title: 'app' }, { ...after, requestSpread: 1.5 }, rates), /· listen queue 0 of 511 · spread 1\.50×\n/);
});
