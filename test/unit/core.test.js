'use strict';
// The pure decision logic, apart from process I/O: parameters, backoff, listen addresses, pid files,
// exit statuses.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir } = require('../helpers/helpers');
const { validateParams, validateParameter, likelyMeant } = require('../../dist/params');
const { RespawnBackoff } = require('../../dist/backoff');
const { parseListenSpec, describeListen } = require('../../dist/socket/listen');
const { writePidFileAtomically, removePidFileIfOurs } = require('../../dist/os/pid-file');
const { describeExit } = require('../../dist/os/exit-status');
const { ProcManager } = require('../..');

test('parameters: Perl names are accepted and normalized', () => {
  assert.deepEqual(validateParams({ n_processes: '4', die_timeout: 2.5, start_delay: '0', no_signals: 1 }), {
    n_processes: 4,
    die_timeout: 2.5,
    start_delay: 0,
    no_signals: true,
  });
  assert.deepEqual(validateParams({ n_processes: undefined }), {}, 'undefined means not given');
  assert.equal(validateParameter('pid_fname', ''), undefined);
  assert.deepEqual(validateParameter('listen', { fd: 0 }), { fd: 0 });
});

test('parameters: bad values throw a TypeError or RangeError naming the parameter', () => {
  assert.throws(() => validateParams({ n_processes: -1 }), { name: 'RangeError', message: /n_processes.*negative/ });
  assert.throws(() => validateParams({ n_processes: 1.5 }), { name: 'RangeError', message: /n_processes.*whole/ });
  assert.throws(() => validateParams({ n_processes: 'four' }), { name: 'TypeError', message: /n_processes must be a number, got "four"/ });
  assert.throws(() => validateParams({ n_processes: NaN }), { name: 'TypeError', message: /n_processes/ });
  assert.throws(() => validateParams({ die_timeout: -5 }), { name: 'RangeError', message: /die_timeout/ });
  assert.throws(() => validateParams({ start_delay: -0.1 }), { name: 'RangeError', message: /start_delay/ });
  assert.throws(() => validateParams({ pm_title: '' }), { name: 'TypeError', message: /pm_title/ });
  assert.throws(() => validateParams({ role: 'boss' }), { name: 'TypeError', message: /role/ });
  assert.throws(() => validateParams({ listen: [] }), { name: 'TypeError', message: /listen/ });
  assert.throws(() => validateParams('n_processes=4'), { name: 'TypeError', message: /parameters must be an object/ });
});

test('parameters: a likely typo is rejected with a suggestion; other unknown keys are kept, as in Perl', () => {
  assert.throws(() => validateParams({ n_process: 4 }), { name: 'TypeError', message: /unknown parameter 'n_process' \(did you mean 'n_processes'\?\)/ });
  assert.throws(() => validateParams({ 'die-timeout': 4 }), { message: /did you mean 'die_timeout'/ });
  assert.throws(() => validateParams({ PID_FNAME: '/x' }), { message: /did you mean 'pid_fname'/ });
  assert.equal(likelyMeant('my_app_setting'), undefined);
  assert.deepEqual(validateParams({ my_app_setting: 'x' }), { my_app_setting: 'x' });
});

test('parameters: booleans from the environment are read as written, and anything else is refused', () => {
  for (const word of ['false', 'FALSE', '0', 'no', 'off', '', 0, false]) {
    assert.equal(validateParameter('no_signals', word), false, `${JSON.stringify(word)} is false`);
  }
  for (const word of ['true', 'True', '1', 'yes', 'on', 1, true]) {
    assert.equal(validateParameter('no_signals', word), true, `${JSON.stringify(word)} is true`);
  }
  assert.throws(() => validateParameter('no_signals', 'maybe'), { name: 'TypeError', message: /no_signals must be true or false.*got "maybe"/ });
  assert.throws(() => validateParameter('no_signals', 2), { name: 'TypeError', message: /no_signals/ });
});

test("parameters: other process managers' names get a suggestion instead of being stored silently", () => {
  assert.throws(() => validateParams({ workers: 4 }), { message: /unknown parameter 'workers' \(did you mean 'n_processes'\?\)/ });
  assert.throws(() => validateParams({ 'pm.max_children': 4 }), { message: /did you mean 'n_processes'/ });
  assert.throws(() => validateParams({ instances: 4 }), { message: /did you mean 'n_processes'/ });
  assert.throws(() => validateParams({ graceful_timeout: 30 }), { message: /did you mean 'die_timeout'/ });
  assert.throws(() => validateParams({ pidfile: '/run/x.pid' }), { message: /did you mean 'pid_fname'/ });
  assert.throws(() => validateParams({ bind: '127.0.0.1:9000' }), { message: /did you mean 'listen'/ });
});

test('parameters: listen is parsed in the constructor; a URL is refused with the address to write instead', () => {
  assert.throws(() => new ProcManager({ n_processes: 2, listen: 'tcp://127.0.0.1:9000' }), {
    name: 'TypeError',
    message: /listen: "tcp:\/\/127\.0\.0\.1:9000" is a URL; write the address alone, e\.g\. '127\.0\.0\.1:9000'/,
  });
  assert.throws(() => new ProcManager({ listen: 'localhost' }), { name: 'TypeError', message: /listen: cannot parse "localhost"/ });
  assert.throws(() => new ProcManager({ listen: '127.0.0.1:99999' }), { name: 'RangeError', message: /port out of range/ });
  assert.equal(new ProcManager({ listen: 'unix:///run/app.sock' }).parameter('listen'), 'unix:///run/app.sock');
  assert.deepEqual(parseListenSpec('unix:///run/app.sock'), { kind: 'unix', path: '/run/app.sock' });
});

test('parameters: the constructor and parameter() validate too, before anything forks', () => {
  assert.throws(() => new ProcManager({ n_processes: -2 }), RangeError);
  const pm = new ProcManager({ n_processes: 3 });
  assert.equal(pm.parameter('n_processes'), 3);
  assert.equal(pm.parameter('die_timeout'), 60, 'Perl default');
  assert.equal(pm.parameter('start_delay'), 0, 'Perl default');
  assert.equal(pm.parameter('role'), 'manager', 'Perl default');
  assert.equal(pm.parameter('pm_title'), 'node-fcgi-pm');
  assert.equal(pm.parameter('n_processes', '5'), 5);
  assert.throws(() => pm.parameter('n_processes', -1), /n_processes/);
});

test('backoff: quick exits double the delay up to the cap; a worker that stays up resets it', () => {
  const b = new RespawnBackoff({ baseMs: 100, capMs: 1000, minUptimeMs: 1000 });
  assert.equal(b.delayMs(), 0);
  const delays = [];
  for (let i = 0; i < 6; i++) {
    b.recordExit(50);
    delays.push(b.delayMs());
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  b.recordHealthy();
  assert.equal(b.delayMs(), 0);
  b.recordExit(50);
  assert.equal(b.delayMs(), 100);
  b.recordExit(5000); // lived long enough: not a crash at start
  assert.equal(b.delayMs(), 0);
  for (let i = 0; i < 2000; i++) b.recordExit(0);
  assert.equal(b.delayMs(), 1000, 'stays finite and capped');
});

test('listen addresses: ports, host:port, [v6]:port, unix paths and fds', () => {
  assert.deepEqual(parseListenSpec(9000), { kind: 'tcp', host: undefined, port: 9000 });
  assert.deepEqual(parseListenSpec('9000'), { kind: 'tcp', host: undefined, port: 9000 });
  assert.deepEqual(parseListenSpec('127.0.0.1:9000'), { kind: 'tcp', host: '127.0.0.1', port: 9000 });
  assert.deepEqual(parseListenSpec('localhost:0'), { kind: 'tcp', host: 'localhost', port: 0 });
  assert.deepEqual(parseListenSpec('*:80'), { kind: 'tcp', host: undefined, port: 80 });
  assert.deepEqual(parseListenSpec('[::1]:9000'), { kind: 'tcp', host: '::1', port: 9000 });
  assert.deepEqual(parseListenSpec('/run/app.sock'), { kind: 'unix', path: '/run/app.sock' });
  assert.deepEqual(parseListenSpec('unix:/run/app.sock'), { kind: 'unix', path: '/run/app.sock' });
  assert.deepEqual(parseListenSpec('./app.sock', '/srv'), { kind: 'unix', path: '/srv/app.sock' }, 'relative to cwd');
  assert.deepEqual(parseListenSpec({ fd: 0 }), { kind: 'fd', fd: 0 });
  assert.throws(() => parseListenSpec('localhost'), { name: 'TypeError', message: /listen: cannot parse/ });
  assert.throws(() => parseListenSpec('127.0.0.1:70000'), { name: 'RangeError', message: /port out of range/ });
  assert.equal(describeListen(parseListenSpec('[::1]:9000')), '[::1]:9000');
  assert.equal(describeListen(parseListenSpec('9000')), '*:9000');
  assert.equal(describeListen(parseListenSpec('/a.sock')), 'unix:/a.sock');
});

test('pid file: written atomically, never through a symlink, removed only while it is ours', () => {
  const dir = tempDir();
  const file = path.join(dir, 'app.pid');
  writePidFileAtomically(file, 1234);
  assert.equal(fs.readFileSync(file, 'utf8'), '1234\n');
  assert.deepEqual(fs.readdirSync(dir), ['app.pid'], 'no temporary file left behind');

  const victim = path.join(dir, 'victim');
  fs.writeFileSync(victim, 'precious');
  const link = path.join(dir, 'link.pid');
  fs.symlinkSync(victim, link);
  writePidFileAtomically(link, 99);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious', 'the symlink target is untouched');
  assert.equal(fs.lstatSync(link).isSymbolicLink(), false);
  assert.equal(fs.readFileSync(link, 'utf8'), '99\n');

  assert.equal(removePidFileIfOurs(file, 999), 'not ours');
  assert.ok(fs.existsSync(file));
  assert.equal(removePidFileIfOurs(file, 1234), 'removed');
  assert.equal(fs.existsSync(file), false);
  assert.equal(removePidFileIfOurs(file, 1234), 'missing');
  assert.throws(() => writePidFileAtomically(path.join(dir, 'no', 'such', 'dir.pid'), 1), /ENOENT/);
});

test("exit statuses are printed as Perl's $? with a readable form", () => {
  assert.equal(describeExit(0, null), '0');
  assert.equal(describeExit(3, null), '768 (exit code 3)');
  assert.equal(describeExit(null, 'SIGKILL'), '9 (signal KILL)');
  assert.equal(describeExit(null, 'SIGTERM'), '15 (signal TERM)');
});
