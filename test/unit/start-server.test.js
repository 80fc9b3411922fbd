'use strict';
// start_server's pure parts: option parsing and validation, socket specs and SERVER_STARTER_PORT,
// the loop's decisions, and the readiness channel's program side.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const { parseCommandLine, validateStartOptions, validateControlOptions, toCommandLine, UsageError } = require('../../dist/start-server/options');
const { parsePortSpec, encodeServerStarterPort, decodeServerStarterPort, serverPorts } = require('../../dist/start-server/ports');
const plan = require('../../dist/start-server/decisions');
const { inheritedSocketFromEnv } = require('../../dist/start-server/inherited');
const { readinessReporter } = require('../../dist/start-server/ready');
const { logCommand } = require('../../dist/start-server/log-sink');
const { RespawnBackoff } = require('../../dist/backoff');
const lib = require('../..');
const { skipWithout } = require('../helpers/helpers');

test('--port specs: Perl 0.35 formats and the names it writes into SERVER_STARTER_PORT', () => {
  const pick = (s) => {
    const p = parsePortSpec(s);
    return [p.kind, p.host, p.family, p.port, p.name, p.fd];
  };
  assert.deepEqual(pick('5000'), ['tcp', undefined, 4, 5000, '5000', undefined]);
  assert.deepEqual(pick(' 5000 '), ['tcp', undefined, 4, 5000, '5000', undefined]);
  assert.deepEqual(pick('127.0.0.1:5000'), ['tcp', '127.0.0.1', 4, 5000, '127.0.0.1:5000', undefined]);
  assert.deepEqual(pick('localhost:8080'), ['tcp', 'localhost', 4, 8080, 'localhost:8080', undefined]);
  assert.deepEqual(pick('[::1]:5000'), ['tcp', '::1', 6, 5000, '[::1]:5000', undefined]);
  assert.deepEqual(pick('::1:5000'), ['tcp', '::1', 6, 5000, '[::1]:5000', undefined], 'brackets are optional, as in Perl');
  assert.deepEqual(pick('5000=7'), ['tcp', undefined, 4, 5000, '5000', 7]);
  assert.deepEqual(pick('127.0.0.1:5000=0'), ['tcp', '127.0.0.1', 4, 5000, '127.0.0.1:5000', 0]);
  assert.deepEqual(pick('u5353'), ['udp', undefined, 4, 5353, '5353', undefined], 'Perl writes no u into the name');
  assert.deepEqual(pick('127.0.0.1:u5353'), ['udp', '127.0.0.1', 4, 5353, '127.0.0.1:5353', undefined]);
  for (const bad of ['', 'abc', ':5000', '5000:', 'host:port', '70000', '127.0.0.1:99999', '[zz::1]:80', '5000=x', '5000=4096']) {
    assert.throws(() => parsePortSpec(bad), /--port value/, bad);
  }
});

test('SERVER_STARTER_PORT: encoded as Perl writes it, decoded as server_ports() reads it', () => {
  const value = encodeServerStarterPort([
    { name: '127.0.0.1:5000', fd: 3 },
    { name: '5001', fd: 4 },
    { name: '/tmp/app.sock', fd: 5 },
  ]);
  assert.equal(value, '127.0.0.1:5000=3;5001=4;/tmp/app.sock=5');
  assert.deepEqual(decodeServerStarterPort(value), [
    { name: '127.0.0.1:5000', fd: 3 },
    { name: '5001', fd: 4 },
    { name: '/tmp/app.sock', fd: 5 },
  ]);
  assert.deepEqual(decodeServerStarterPort('/tmp/a=b.sock=6'), [{ name: '/tmp/a=b.sock', fd: 6 }]);
  assert.deepEqual(serverPorts({ SERVER_STARTER_PORT: value }), { '127.0.0.1:5000': '3', 5001: '4', '/tmp/app.sock': '5' });
  assert.deepEqual(serverPorts({ SERVER_STARTER_PORT: '' }), {}, 'defined but empty: no ports, as Perl 0.35');
  assert.throws(() => serverPorts({}), /no environment variable SERVER_STARTER_PORT/);
  assert.equal(lib.serverPorts, serverPorts, 'exported by the package');
  assert.equal(typeof lib.startServer, 'function');
  assert.equal(typeof lib.restartServer, 'function');
});

test('SERVER_STARTER_PORT agrees with Perl: Server::Starter::server_ports() reads what we write', { skip: skipWithout(hasPerlServerStarter(), 'Perl Server::Starter is not installed (Debian package libserver-starter-perl)') }, () => {
  const value = encodeServerStarterPort([{ name: '[::1]:5000', fd: 3 }, { name: '5001', fd: 4 }, { name: '/tmp/x.sock', fd: 5 }]);
  const out = spawnSync('perl', ['-MServer::Starter=server_ports', '-e', 'my $p = server_ports(); print join(",", map { "$_>$p->{$_}" } sort keys %$p)'], {
    env: { ...process.env, SERVER_STARTER_PORT: value },
    encoding: 'utf8',
  });
  assert.equal(out.stdout, '/tmp/x.sock>5,5001>4,[::1]:5000>3');
  const ours = serverPorts({ SERVER_STARTER_PORT: value });
  assert.equal(Object.keys(ours).sort().map((k) => `${k}>${ours[k]}`).join(','), out.stdout);
});

test('command line: options, the program after -- or after the first non-option, Perl names in the result', () => {
  const cmd = parseCommandLine(['--port=127.0.0.1:5000', '--port', '5001', '--path=/tmp/s.sock', '--interval=0.5', '--signal-on-hup=usr1', '--enable-auto-restart', '--', 'node', 'app.js', '--flag']);
  assert.equal(cmd.action, 'start');
  assert.deepEqual(cmd.options.port, ['127.0.0.1:5000', '5001']);
  assert.deepEqual(cmd.options.path, ['/tmp/s.sock']);
  assert.equal(cmd.options.interval, 0.5);
  assert.equal(cmd.options.signal_on_hup, 'usr1');
  assert.equal(cmd.options.enable_auto_restart, true);
  assert.deepEqual(cmd.options.exec, ['node', 'app.js', '--flag']);
  // without --, options end at the program, whose own options are left alone
  assert.deepEqual(parseCommandLine(['--port', '5000', 'node', '--inspect', 'app.js']).options.exec, ['node', '--inspect', 'app.js']);
  assert.deepEqual(parseCommandLine(['--help']), { action: 'help' });
  assert.deepEqual(parseCommandLine(['--version']), { action: 'version' });
  assert.deepEqual(parseCommandLine(['--restart', '--pid-file=p', '--status-file=s']), {
    action: 'restart',
    options: { pid_file: 'p', status_file: 's', ready_timeout: undefined },
  });
  assert.equal(parseCommandLine(['--restart', '--pid-file=p', '--status-file=s', '--ready-timeout=2.5']).options.ready_timeout, 2.5);
  assert.equal(parseCommandLine(['--ready-timeout', '0', '--', 'app']).options.ready_timeout, 0);
  assert.deepEqual(parseCommandLine(['--stop', '--pid-file=p']), { action: 'stop', options: { pid_file: 'p', status_file: undefined } });
});

test('command line: every bad option is a UsageError with a one-line message', () => {
  for (const [argv, message] of [
    [['--port=5000'], /server program not specified/],
    [['--bogus', '--', 'x'], /unknown option --bogus/],
    [['--port'], /--port needs a value/],
    [['--daemonize=yes', 'x'], /--daemonize takes no value/],
    [['--port=nope', 'x'], /invalid --port value "nope"/],
    [['--port=5000=3', '--port=5001=3', 'x'], /fd 3 is given twice/],
    [['--interval=-1', 'x'], /--interval must be a number/],
    [['--interval=soon', 'x'], /--interval must be a number/],
    [['--ready-timeout=-1', 'x'], /--ready-timeout must be a number/],
    [['--ready-timeout=1m', 'x'], /--ready-timeout must be a number/],
    [['--restart', '--pid-file=p', '--status-file=s', '--ready-timeout=soon'], /--ready-timeout must be a number/],
    [['--backlog=0', 'x'], /--backlog must be a positive whole number/],
    [['--backlog=1.5', 'x'], /--backlog must be a whole number/],
    [['--signal-on-hup=NOPE', 'x'], /unknown signal "NOPE"/],
    [['--daemonize', 'x'], /--log-file option must be specified together with --daemonize/],
    [['--restart', '--pid-file=p'], /--restart option requires --pid-file and --status-file/],
    [['--stop'], /--stop option requires --pid-file/],
    [['--restart', '--stop', '--pid-file=p', '--status-file=s'], /cannot be used together/],
    [['--log-file=|', 'x'], /needs a command/],
  ]) {
    assert.throws(() => parseCommandLine(argv), (err) => err instanceof UsageError && message.test(err.message) && !err.message.includes('\n'), argv.join(' '));
  }
});

test('settings: defaults and normalization as Perl; options become the environment Perl sets', () => {
  const s = validateStartOptions({ exec: ['app'], port: 5000, path: '/tmp/x.sock', signal_on_term: 'sigint' });
  assert.equal(s.intervalSeconds, 1);
  assert.equal(s.readyTimeoutSeconds, 60);
  assert.equal(validateStartOptions({ exec: ['app'], ready_timeout: 0.5 }).readyTimeoutSeconds, 0.5);
  assert.equal(validateStartOptions({ exec: ['app'], ready_timeout: 0 }).readyTimeoutSeconds, 0, '0: no limit');
  for (const bad of [-1, Infinity, NaN, '5']) {
    assert.throws(() => validateStartOptions({ exec: ['app'], ready_timeout: bad }), /--ready-timeout must be a non-negative number/);
    assert.throws(() => validateControlOptions('restart', { pid_file: 'p', status_file: 's', ready_timeout: bad }), /--ready-timeout must be a non-negative number/);
  }
  assert.equal(s.signalOnHup, 'TERM');
  assert.equal(s.signalOnTerm, 'INT');
  assert.equal(s.backlog, 4096);
  assert.deepEqual(s.ports.map((p) => p.name), ['5000']);
  assert.deepEqual(s.paths.map((p) => p.name), ['/tmp/x.sock']);
  assert.deepEqual(s.env, {});
  const t = validateStartOptions({ exec: ['app'], envdir: '/e', enable_auto_restart: true, kill_old_delay: 2, auto_restart_interval: 60 });
  assert.deepEqual(t.env, { ENVDIR: '/e', ENABLE_AUTO_RESTART: '1', KILL_OLD_DELAY: '2', AUTO_RESTART_INTERVAL: '60' });
  assert.throws(() => validateStartOptions({ exec: [] }), UsageError);
  assert.throws(() => validateStartOptions({ exec: 'app' }), UsageError);
});

test('toCommandLine gives the same options back (what --daemonize restarts itself with)', () => {
  const options = {
    exec: ['node', 'app.js', '--x'],
    port: ['127.0.0.1:5000', '5001=4'],
    path: ['/tmp/a.sock'],
    dir: '/srv',
    interval: 2,
    ready_timeout: 7.5,
    signal_on_hup: 'USR1',
    signal_on_term: 'TERM',
    pid_file: '/run/p',
    status_file: '/run/s',
    envdir: '/env',
    enable_auto_restart: true,
    auto_restart_interval: 60,
    kill_old_delay: 3,
    backlog: 100,
    log_file: '| logger -t app',
    daemonize: true,
  };
  assert.deepEqual(parseCommandLine(toCommandLine(options)), { action: 'start', options });
});

test('status file: generation:pid lines, oldest first; restart is done when one newer generation is left', () => {
  const text = plan.statusFileContent([{ generation: 10, pid: 300 }, { generation: 9, pid: 200 }]);
  assert.equal(text, '9:200\n10:300\n');
  assert.deepEqual(plan.parseStatusFile(text), [9, 10]);
  assert.deepEqual(plan.parseStatusFile('2:5\n2:6\nx\n1:4\n'), [1, 2]);
  assert.equal(plan.statusFileContent([]), '');
  assert.equal(plan.restartComplete([9, 10], 9), false, 'the old one is still there');
  assert.equal(plan.restartComplete([10], 9), true);
  assert.equal(plan.restartComplete([12], 9), true, 'a failed start used up 10 and 11: still done');
  assert.equal(plan.restartComplete([9], 9), false, 'the new one is not up yet');
  assert.equal(plan.restartComplete([], 9), false);
});

test('status file: our starting: and failed: lines, which Perl\'s /^(\\d+):/ reader skips', () => {
  const text = plan.statusFileContent([{ generation: 1, pid: 100 }], {
    starting: { generation: 3, pid: 300 },
    failed: { generation: 2, pid: 200, reason: 'was not ready\nwithin 5 s' },
  });
  assert.equal(text, '1:100\nstarting:3:300\nfailed:2:200:was not ready within 5 s\n', 'the reason is kept on one line');
  assert.deepEqual(plan.parseStatusFile(text), [1], 'only the generation:pid lines count as running');
  assert.deepEqual(text.split('\n').filter((l) => /^(\d+):/.test(l)), ['1:100'], 'Perl\'s regex sees the running line only');
  assert.deepEqual(plan.parseStatusSnapshot(text), {
    running: [1],
    starting: { generation: 3, pid: 300 },
    failed: { generation: 2, pid: 200, reason: 'was not ready within 5 s' },
  });
  assert.deepEqual(plan.parseStatusSnapshot('1:100\n'), { running: [1], starting: undefined, failed: undefined }, 'Perl\'s file');
  assert.deepEqual(plan.parseStatusSnapshot('failed:4:0:exited: status 1\n').failed, { generation: 4, pid: 0, reason: 'exited: status 1' });
  assert.equal(plan.statusFileContent([{ generation: 2, pid: 5 }], {}), '2:5\n');
});

test('--restart: the baseline is the newest generation the file mentions; it fails fast on a newer failed start', () => {
  const snap = (text) => plan.parseStatusSnapshot(text);
  assert.equal(plan.restartBaseline(snap('1:100\n')), 1);
  assert.equal(plan.restartBaseline(snap('1:100\nfailed:4:400:x\n')), 4, 'a failure from before the HUP is not ours');
  assert.equal(plan.restartBaseline(snap('1:100\nstarting:5:500\nfailed:4:400:x\n')), 5, 'nor is a start already under way');
  const clock = { newerSeen: false, secondsSinceHup: 1, readyTimeoutSeconds: 60 };
  const at = (text, c = {}) => plan.restartProgress(snap(text), 1, { ...clock, ...c });
  assert.deepEqual(at('2:200\n'), { kind: 'done' });
  assert.deepEqual(at('1:100\n'), { kind: 'waiting', newerSeen: false });
  assert.deepEqual(at('1:100\nstarting:2:200\n'), { kind: 'waiting', newerSeen: true });
  assert.deepEqual(at('1:100\n2:200\n'), { kind: 'waiting', newerSeen: true }, 'the old one drains');
  const failed = at('1:100\nfailed:2:200:was not ready within 5 s (--ready-timeout)\nstarting:3:300\n');
  assert.equal(failed.kind, 'failed', 'the first failure after the HUP ends it, though start_server tries again');
  assert.equal(failed.message, 'restart failed: new generation 2 (pid 200) was not ready within 5 s (--ready-timeout); the old generation keeps serving');
  assert.match(at('1:100\nfailed:2:0:exited before it was up, status:65280\n').message, /new generation 2 exited before/, 'no pid: no process');
  assert.deepEqual(at('1:100\nfailed:1:100:old\n'), { kind: 'waiting', newerSeen: false }, 'not newer than the baseline');
  // Perl's start_server lists a generation only once it is up, and records no failure: the client's own bound.
  assert.match(at('1:100\n', { secondsSinceHup: 60 }).message, /no generation newer than 1 appeared in the status file within 60 s of the HUP/);
  assert.deepEqual(at('1:100\n', { secondsSinceHup: 1e6, readyTimeoutSeconds: 0 }), { kind: 'waiting', newerSeen: false }, '0: for ever');
  assert.deepEqual(at('1:100\n2:200\n', { secondsSinceHup: 1e6 }), { kind: 'waiting', newerSeen: true }, 'the drain is not bounded');
  assert.deepEqual(at('1:100\n', { secondsSinceHup: 1e6, newerSeen: true }), { kind: 'waiting', newerSeen: true }, 'once seen, seen');
});

test('a starting generation: exit, READY=1, stop, --interval, --ready-timeout, then a HUP (STARTING=1 only) decide', () => {
  const base = { exited: false, readiness: 'silent', stopRequested: false, hupRequested: false, msSinceSpawn: 0, intervalMs: 1000, readyTimeoutMs: 5000 };
  const step = (s) => plan.startStep({ ...base, ...s });
  assert.deepEqual(step({}), { waitMs: 1000 });
  assert.deepEqual(step({ msSinceSpawn: 1000 }), { outcome: 'alive' }, 'silent and alive after --interval: up');
  assert.deepEqual(step({ exited: true, readiness: 'ready', hupRequested: true }), { outcome: 'exited' });
  assert.deepEqual(step({ readiness: 'ready', hupRequested: true, stopRequested: true }), { outcome: 'ready' }, 'ready is up, a HUP then restarts as usual');
  assert.deepEqual(step({ stopRequested: true, hupRequested: true }), { outcome: 'stopping' });
  assert.deepEqual(step({ hupRequested: true, msSinceSpawn: 400 }), { waitMs: 600 }, 'a silent one is not replaced: the HUP waits for --interval, as in Perl');
  assert.deepEqual(step({ hupRequested: true, msSinceSpawn: 1000 }), { outcome: 'alive' });
  assert.deepEqual(step({ readiness: 'starting', msSinceSpawn: 2000 }), { waitMs: 3000 }, '--interval no longer applies once STARTING=1');
  assert.deepEqual(step({ readiness: 'starting', msSinceSpawn: 5000 }), { outcome: 'timed-out' });
  assert.deepEqual(step({ readiness: 'starting', msSinceSpawn: 5000, hupRequested: true }), { outcome: 'timed-out' }, 'a failed start first');
  assert.deepEqual(step({ readiness: 'starting', msSinceSpawn: 2000, hupRequested: true }), { outcome: 'superseded' });
  assert.deepEqual(step({ readiness: 'starting', msSinceSpawn: 1e9, readyTimeoutMs: 0 }), { waitMs: Infinity }, '0: for ever');
});

test('loop settings from the environment, as Perl reads them', () => {
  assert.deepEqual(plan.loopSettings({}), { autoRestart: false, autoRestartIntervalSeconds: 360, killOldDelaySeconds: 0 });
  assert.deepEqual(plan.loopSettings({ ENABLE_AUTO_RESTART: '1' }), { autoRestart: true, autoRestartIntervalSeconds: 360, killOldDelaySeconds: 5 });
  assert.deepEqual(plan.loopSettings({ ENABLE_AUTO_RESTART: '0', KILL_OLD_DELAY: '2' }).killOldDelaySeconds, 2);
  assert.equal(plan.loopSettings({ ENABLE_AUTO_RESTART: '' }).autoRestart, false);
  assert.equal(plan.loopSettings({ ENABLE_AUTO_RESTART: '1', KILL_OLD_DELAY: '0' }).killOldDelaySeconds, 0);
  assert.equal(plan.loopSettings({ ENABLE_AUTO_RESTART: '1', AUTO_RESTART_INTERVAL: '0' }).autoRestartIntervalSeconds, 360, '||= 360');
  assert.equal(plan.loopSettings({ ENABLE_AUTO_RESTART: '1', AUTO_RESTART_INTERVAL: '30s' }).autoRestartIntervalSeconds, 30);
});

test('auto-restart: after the interval with no old generation, or forced after twice the interval', () => {
  const s = plan.loopSettings({ ENABLE_AUTO_RESTART: '1', AUTO_RESTART_INTERVAL: '10' });
  assert.equal(plan.autoRestartDue(s, 9, 0), undefined);
  assert.equal(plan.autoRestartDue(s, 10, 0), 'interval');
  assert.equal(plan.autoRestartDue(s, 15, 1), undefined, 'an old generation is still draining');
  assert.equal(plan.autoRestartDue(s, 20, 1), 'forced');
  assert.equal(plan.autoRestartDue(plan.loopSettings({}), 10_000, 0), undefined, 'disabled');
});

test('fd layout: explicit fds kept, the others from 3 up, the readiness pipe after them all', () => {
  assert.deepEqual(plan.childFdLayout([]), { fds: [], readyFd: 3 });
  assert.deepEqual(plan.childFdLayout([undefined, undefined, undefined]), { fds: [3, 4, 5], readyFd: 6 });
  assert.deepEqual(plan.childFdLayout([3, undefined]), { fds: [3, 4], readyFd: 5 });
  assert.deepEqual(plan.childFdLayout([undefined, 3]), { fds: [4, 3], readyFd: 5 });
  assert.deepEqual(plan.childFdLayout([10, undefined]), { fds: [10, 3], readyFd: 11 });
  assert.deepEqual(plan.childFdLayout([0, undefined]), { fds: [0, 3], readyFd: 4 });
});

test('readiness lines and envdir files', () => {
  assert.equal(plan.parseReadinessLine('READY=1'), 'ready');
  assert.equal(plan.parseReadinessLine('STARTING=1\r'), 'starting');
  assert.equal(plan.parseReadinessLine('READY=0'), undefined);
  assert.equal(plan.envdirValue('FOO', 'bar\nignored\n'), 'bar');
  assert.equal(plan.envdirValue('FOO', 'bar'), 'bar');
  assert.equal(plan.envdirValue('FOO', '\n'), '', 'an empty first line sets the empty string');
  assert.equal(plan.envdirValue('FOO', ''), undefined, 'an empty file sets nothing (Perl reads no line)');
  assert.equal(plan.envdirValue('.hidden', 'x'), undefined);
});

test('start backoff: grows from 0.5 s, capped at 10 s, reset by a generation that stays up', () => {
  const b = new RespawnBackoff(plan.START_BACKOFF);
  const delays = [];
  for (let i = 0; i < 8; i++) {
    b.recordExit(0);
    delays.push(b.delayMs());
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  b.recordExit(60_000);
  assert.equal(b.delayMs(), 0);
});

test('inherited sockets: SERVER_STARTER_PORT first, then systemd LISTEN_FDS for this pid only', () => {
  assert.deepEqual(inheritedSocketFromEnv({ SERVER_STARTER_PORT: '127.0.0.1:5000=3;/x.sock=4' }, 1), { fd: 3, source: 'SERVER_STARTER_PORT 127.0.0.1:5000' });
  assert.deepEqual(inheritedSocketFromEnv({ SERVER_STARTER_PORT: '/x.sock=5', LISTEN_FDS: '1', LISTEN_PID: '7' }, 7), { fd: 5, source: 'SERVER_STARTER_PORT /x.sock' });
  assert.deepEqual(inheritedSocketFromEnv({ LISTEN_FDS: '2', LISTEN_PID: '7' }, 7), { fd: 3, source: 'LISTEN_FDS' });
  assert.equal(inheritedSocketFromEnv({ LISTEN_FDS: '1', LISTEN_PID: '8' }, 7), undefined, 'meant for another process');
  assert.equal(inheritedSocketFromEnv({ LISTEN_FDS: '0', LISTEN_PID: '7' }, 7), undefined);
  assert.equal(inheritedSocketFromEnv({}, 7), undefined);
});

test('readiness reporter: writes STARTING=1 then READY=1 to the fd and takes the variable out of the environment', () => {
  const file = require('node:path').join(require('../helpers/helpers').tempDir(), 'ready');
  const fd = fs.openSync(file, 'w');
  const env = { SERVER_STARTER_READY_FD: String(fd) };
  const reporter = readinessReporter(env);
  assert.equal(env.SERVER_STARTER_READY_FD, undefined);
  reporter.starting();
  reporter.ready();
  reporter.ready(); // the fd is closed after READY: nothing more is written
  assert.equal(fs.readFileSync(file, 'utf8'), 'STARTING=1\nREADY=1\n');
  assert.throws(() => fs.fstatSync(fd), /EBADF/);
  const silent = readinessReporter({});
  silent.starting();
  silent.ready();
});

test('log file: "| cmd" is a command, anything else a file', () => {
  assert.equal(logCommand('| logger -t app'), 'logger -t app');
  assert.equal(logCommand('  |cat'), 'cat');
  assert.equal(logCommand('/var/log/app.log'), undefined);
});

function hasPerlServerStarter() {
  return spawnSync('perl', ['-MServer::Starter', '-e', '1']).status === 0;
}
