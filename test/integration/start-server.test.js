'use strict';
// Our start_server with real programs: examples/hello.js (a ProcManager pool that reports readiness)
// and small shell programs, under real signals, with cgi-fcgi requests.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { HELLO, tempDir, livePids, fcgiRequest, isAlive, eventually, sleep } = require('../helpers/helpers');
const {
  startStarter,
  exitedWithOutput,
  runStarter,
  requestLoop,
  readStatus,
  generationPids,
  answeringManagers,
  freePort,
  accepts,
} = require('../fixtures/start-server-tools');

/** hello.js's own `listen` points at a path that must never appear: the inherited socket wins. */
function helloEnv(dir, extra = {}) {
  return { PM_N_PROCESSES: '2', FCGI_LISTEN: path.join(dir, 'never-used.sock'), ...extra };
}

test('HUP replaces the pool under a request loop with no failure; the old pool goes once the new one is ready; --restart waits for it', async () => {
  const dir = tempDir();
  const sock = path.join(dir, 'fcgi.sock');
  const status = path.join(dir, 'status');
  const pidFile = path.join(dir, 'pid');
  // The pool reports readiness, so a generous --interval costs nothing: it only bounds the wait for STARTING=1.
  const ss = startStarter(
    [`--path=${sock}`, `--status-file=${status}`, `--pid-file=${pidFile}`, '--interval=10', '--', process.execPath, HELLO],
    helloEnv(dir, { PM_START_DELAY: '0.5' }),
  );
  await ss.waitFor(/^new worker \d+ is ready$/);
  const [gen1] = generationPids(ss);
  assert.equal(readStatus(status), `1:${gen1}\n`);
  assert.equal(fs.readFileSync(pidFile, 'utf8'), `${ss.pid}\n`);
  assert.ok(ss.lines.some((l) => l === `FastCGI: manager (pid ${gen1}): listening on fd 3`), 'the manager took the inherited socket');

  const loop = requestLoop(sock, { maxRequests: 400, maxMs: 20_000 });
  await sleep(300);
  ss.kill('SIGHUP');
  assert.ok(await eventually(() => /^2:\d+\n$/.test(readStatus(status) ?? ''), 10_000), `status: ${readStatus(status)}`);
  await ss.waitFor(new RegExp(`^old worker ${gen1} died, status:0$`)); // every line before it has been read
  const gen2 = generationPids(ss)[1];
  assert.equal(readStatus(status), `2:${gen2}\n`);
  // The old pool got its TERM only after the new one was accepting.
  const readyAt = ss.lines.indexOf(`FastCGI: manager (pid ${gen2}): ready: 2 servers accepting`);
  const killAt = ss.lines.indexOf('killing old workers');
  const oldTermAt = ss.lines.indexOf(`FastCGI: manager (pid ${gen1}): received signal TERM`);
  assert.ok(readyAt >= 0 && readyAt < killAt && killAt < oldTermAt, ss.lines.join('\n'));
  assert.ok(ss.lines.includes(`new worker is now running, sending TERM to old workers:${gen1}`));

  // --restart returns once only the new generation is left.
  const restart = await runStarter(['--restart', `--pid-file=${pidFile}`, `--status-file=${status}`]);
  assert.equal(restart.code, 0, restart.stderr);
  const gen3 = generationPids(ss)[2];
  assert.equal(readStatus(status), `3:${gen3}\n`, 'only the new generation is left when --restart returns');
  assert.equal(isAlive(gen2), false);
  const result = await loop.stop();
  assert.deepEqual(result.failures, [], `${result.failures.length} failed requests`);
  assert.ok(result.answered > 10, `only ${result.answered} answered`);
  assert.ok(answeringManagers(ss, result.pids).size >= 2, 'answers came from more than one generation');
  assert.equal(fs.existsSync(path.join(dir, 'never-used.sock')), false);
  ss.kill('SIGTERM');
  assert.equal((await ss.exited).code, 0);
});

test('readiness: a program that writes STARTING=1 is up at READY=1, not after --interval; the old one waits until then', async () => {
  const dir = tempDir();
  const program = [
    'echo "gen $SERVER_STARTER_GENERATION starting" >&2',
    'echo STARTING=1 >&$SERVER_STARTER_READY_FD',
    'trap "echo gen $SERVER_STARTER_GENERATION got TERM >&2; exit 0" TERM',
    'sleep 2',
    'echo "gen $SERVER_STARTER_GENERATION ready" >&2',
    'echo READY=1 >&$SERVER_STARTER_READY_FD',
    'while :; do sleep 0.1; done',
  ].join('; ');
  const ss = startStarter([`--path=${path.join(dir, 's.sock')}`, '--interval=1', '--', 'sh', '-c', program]);
  await ss.waitFor(/^new worker \d+ is ready$/);
  ss.kill('SIGHUP');
  await ss.waitFor(/^gen 1 got TERM$/);
  const at = (line) => ss.lines.indexOf(line);
  assert.ok(at('gen 2 starting') < at('gen 2 ready'), ss.lines.join('\n'));
  assert.ok(at('gen 2 ready') < at('killing old workers'), `--interval (1 s) passed long before READY=1 (2 s), yet:\n${ss.lines.join('\n')}`);
  assert.ok(at('killing old workers') < at('gen 1 got TERM'));
  assert.ok(ss.lines.includes(`new worker ${generationPids(ss)[1]} is ready`));
  ss.kill('SIGTERM');
  assert.equal((await ss.exited).code, 0);
});

test('a generation that dies is restarted; TERM stops every generation and removes pid file, status file and sockets', async () => {
  const dir = tempDir();
  const sock = path.join(dir, 'fcgi.sock');
  const status = path.join(dir, 'status');
  const pidFile = path.join(dir, 'pid');
  const port = await freePort();
  fs.writeFileSync(sock, ''); // not a socket: refused below, then removed for the real run
  const refused = await runStarter([`--path=${sock}`, '--', 'true']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /exists and is not a socket/);
  fs.rmSync(sock);

  const ss = startStarter(
    [`--port=127.0.0.1:${port}`, `--path=${sock}`, `--status-file=${status}`, `--pid-file=${pidFile}`, '--interval=10', '--', process.execPath, HELLO],
    helloEnv(dir),
  );
  await ss.waitFor(/^new worker \d+ is ready$/);
  const [gen1] = generationPids(ss);
  process.kill(gen1, 'SIGKILL'); // its workers exit on their own once their manager is gone
  await ss.waitFor(new RegExp(`^worker ${gen1} died unexpectedly with status:9 \\(signal KILL\\), restarting$`));
  assert.ok(await eventually(() => /^2:\d+\n$/.test(readStatus(status) ?? ''), 10_000));
  const res = await fcgiRequest(`127.0.0.1:${port}`);
  assert.ok(res.ok, res.stdout + res.stderr);
  assert.ok(await accepts(sock), 'the unix socket listens too (the pool serves the first socket only)');

  const everyone = () => [ss.pid, ...generationPids(ss), ...livePids(ss)];
  ss.kill('SIGTERM');
  assert.equal((await exitedWithOutput(ss)).code, 0);
  assert.ok(ss.lines.includes(`received TERM, sending TERM to all workers:${generationPids(ss)[1]}`));
  assert.equal(ss.lines.at(-1), 'exiting');
  assert.equal(fs.existsSync(pidFile), false, 'pid file removed');
  assert.equal(fs.existsSync(status), false, 'status file removed');
  assert.equal(fs.existsSync(sock), false, 'unix socket removed');
  assert.equal(await accepts(port), false, 'the TCP port is closed');
  assert.ok(await eventually(() => everyone().every((pid) => !isAlive(pid)), 5_000), `left alive: ${everyone().filter(isAlive)}`);
});

test('a program that dies at start is retried with a growing delay, not in a fork loop (even with --interval=0)', async () => {
  const dir = tempDir();
  const ss = startStarter([`--path=${path.join(dir, 's.sock')}`, '--interval=0', '--', 'sh', '-c', 'exit 3']);
  await sleep(4_000);
  const starts = generationPids(ss).length;
  // Perl's start_server forks as fast as it can here; 0.5, 1, 2 s apart this is 4 starts in 4 s.
  assert.ok(starts >= 3 && starts <= 7, `${starts} starts in 4 s`);
  assert.ok(ss.count(/^worker \d+ died unexpectedly with status:768 \(exit code 3\), restarting$/) >= 3);
  const delays = ss.lines.map((l) => / starting again in ([\d.]+) s$/.exec(l)).filter(Boolean).map((m) => Number(m[1]));
  assert.ok(delays.length >= 2 && delays.at(-1) > delays[0], `the delay grows: ${delays}`);
  // A HUP (a fixed deploy) cuts the wait short.
  const before = generationPids(ss).length;
  ss.kill('SIGHUP');
  await ss.waitFor(/^received HUP, starting a new worker now$/);
  assert.ok(await eventually(() => generationPids(ss).length > before, 1_000), 'started again at once');
  ss.kill('SIGTERM'); // during a backoff sleep: stops at once
  assert.equal((await ss.exited).code, 0);
});

test('a program that fails before --interval is "failed to start", retried with backoff; a bad exec too', async () => {
  const dir = tempDir();
  const ss = startStarter([`--path=${path.join(dir, 's.sock')}`, '--interval=1', '--', 'sh', '-c', 'sleep 0.1; exit 4']);
  await ss.waitFor(/^new worker \d+ seems to have failed to start, exit status:1024 \(exit code 4\)$/);
  await ss.waitFor(/^1 worker in a row failed to start or died soon after; starting again in 0.5 s$/);
  ss.kill('SIGINT');
  assert.equal((await ss.exited).code, 0);

  const missing = startStarter([`--path=${path.join(dir, 't.sock')}`, '--', path.join(dir, 'no-such-program')]);
  await missing.waitFor(/^failed to exec .*no-such-program: spawn .* ENOENT$/);
  await missing.waitFor(/seems to have failed to start, exit status:65280 \(exit code 255\)$/);
  missing.kill('SIGTERM');
  assert.equal((await missing.exited).code, 0);
});

test('envdir is reread on every loop: the next generation gets the new values, and start_server obeys KILL_OLD_DELAY', async () => {
  const dir = tempDir();
  const envdir = path.join(dir, 'env');
  const work = path.join(dir, 'work');
  fs.mkdirSync(envdir);
  fs.mkdirSync(work);
  fs.writeFileSync(path.join(envdir, 'GREETING'), 'hello\n');
  fs.writeFileSync(path.join(envdir, '.hidden'), 'no\n');
  const program = 'echo "gen=$SERVER_STARTER_GENERATION greeting=${GREETING-unset} hidden=${hidden-unset} pwd=$(pwd)" >> seen; exec sleep 30';
  const ss = startStarter([`--path=${path.join(dir, 's.sock')}`, `--envdir=${envdir}`, `--dir=${work}`, '--interval=0.2', '--', 'sh', '-c', program]);
  const seen = () => (fs.existsSync(path.join(work, 'seen')) ? fs.readFileSync(path.join(work, 'seen'), 'utf8') : '');
  assert.ok(await eventually(() => seen().includes('gen=1 '), 5_000));
  fs.writeFileSync(path.join(envdir, 'GREETING'), 'bonjour\n');
  fs.writeFileSync(path.join(envdir, 'KILL_OLD_DELAY'), '1\n');
  ss.kill('SIGHUP');
  assert.ok(await eventually(() => seen().includes('gen=2 '), 5_000));
  await ss.waitFor(/^killing old workers$/);
  fs.rmSync(path.join(envdir, 'GREETING'));
  fs.rmSync(path.join(envdir, 'KILL_OLD_DELAY'));
  ss.kill('SIGHUP');
  assert.ok(await eventually(() => seen().includes('gen=3 '), 5_000));
  const lines = seen().trim().split('\n');
  assert.deepEqual(lines, [
    `gen=1 greeting=hello hidden=unset pwd=${work}`,
    `gen=2 greeting=bonjour hidden=unset pwd=${work}`,
    `gen=3 greeting=unset hidden=unset pwd=${work}`,
  ]);
  assert.equal(ss.count(/^sleeping 1 secs before killing old workers$/), 1, 'KILL_OLD_DELAY from envdir, for one restart only');
  ss.kill('SIGTERM');
  assert.equal((await ss.exited).code, 0);
});

test('bad options: one line, exit 2, and nothing opened (no socket, no pid file, no port)', async () => {
  const dir = tempDir();
  const sock = path.join(dir, 's.sock');
  const pidFile = path.join(dir, 'pid');
  const port = await freePort();
  const common = [`--path=${sock}`, `--port=127.0.0.1:${port}`, `--pid-file=${pidFile}`];
  for (const [args, message] of [
    [[...common, '--bogus', '--', 'true'], /^start_server: unknown option --bogus/],
    [[...common], /^start_server: server program not specified/],
    [[...common, '--interval=soon', '--', 'true'], /^start_server: --interval must be a number of seconds, got "soon"/],
    [[...common, '--ready-timeout=-5', '--', 'true'], /^start_server: --ready-timeout must be a number of seconds, got "-5"/],
    [[...common, '--signal-on-hup=BOGUS', '--', 'true'], /^start_server: --signal-on-hup: unknown signal "BOGUS"/],
    [[...common, '--port=localhost:99999', '--', 'true'], /^start_server: invalid --port value "localhost:99999": port out of range/],
    [[...common, `--dir=${path.join(dir, 'missing')}`, '--', 'true'], /^start_server: --dir .*missing: no such directory/],
    [[...common, '--daemonize', '--', 'true'], /^start_server: --log-file option must be specified together with --daemonize/],
    [['--restart', `--pid-file=${pidFile}`], /^start_server: --restart option requires --pid-file and --status-file/],
  ]) {
    const result = await runStarter(args);
    assert.equal(result.code, 2, args.join(' '));
    assert.equal(result.stderr.split('\n').filter(Boolean).length, 1, result.stderr);
    assert.match(result.stderr, message);
    assert.equal(fs.existsSync(sock), false, 'no socket file');
    assert.equal(fs.existsSync(pidFile), false, 'no pid file');
    assert.equal(await accepts(port), false, 'nothing listens on the port');
  }
  const help = await runStarter(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: start_server/);
  assert.equal((await runStarter(['--version'])).stdout, '0.35\n');
});

test('the pid file is locked: a second start_server on it is refused before it opens anything; --stop waits for the exit', async () => {
  const dir = tempDir();
  const pidFile = path.join(dir, 'pid');
  const first = startStarter([`--path=${path.join(dir, 'a.sock')}`, `--pid-file=${pidFile}`, '--', 'sh', '-c', 'trap "sleep 0.5; exit 0" TERM; while :; do sleep 0.1; done']);
  await first.waitFor(/^starting new worker \d+$/);
  const second = await runStarter([`--path=${path.join(dir, 'b.sock')}`, `--pid-file=${pidFile}`, '--', 'true']);
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`^start_server: pid file .* is locked by another start_server \\(pid ${first.pid}\\)\n$`));
  assert.equal(fs.existsSync(path.join(dir, 'b.sock')), false);
  assert.equal(fs.readFileSync(pidFile, 'utf8'), `${first.pid}\n`, 'the first one\'s pid file is untouched');
  const stop = await runStarter(['--stop', `--pid-file=${pidFile}`]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stderr, new RegExp(`stopping now \\(pid:${first.pid}\\)`));
  assert.equal(isAlive(first.pid), false, 'start_server had exited when --stop returned');
  assert.ok(stop.ms >= 400, `--stop waited for the program's 0.5 s shutdown (${stop.ms} ms)`);
  assert.equal(fs.existsSync(pidFile), false);
});

test('--daemonize with --log-file="| cmd": returns once the daemon serves; --stop ends it', async () => {
  const dir = tempDir();
  const sock = path.join(dir, 'fcgi.sock');
  const pidFile = path.join(dir, 'pid');
  const log = path.join(dir, 'log');
  const started = await runStarter(
    ['--daemonize', `--log-file=| cat >> ${log}`, `--path=${sock}`, `--pid-file=${pidFile}`, '--', process.execPath, HELLO],
    { env: helloEnv(dir) },
  );
  assert.equal(started.code, 0, started.stderr);
  const daemon = Number(fs.readFileSync(pidFile, 'utf8'));
  try {
    assert.ok(isAlive(daemon));
    assert.ok(await eventually(async () => (await fcgiRequest(sock)).ok, 10_000), 'the daemon\'s pool answers');
    const stop = await runStarter(['--stop', `--pid-file=${pidFile}`]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(isAlive(daemon), false);
    assert.equal(fs.existsSync(sock), false);
    const text = fs.readFileSync(log, 'utf8');
    assert.match(text, new RegExp(`^start_server \\(pid:${daemon}\\) starting now\\.\\.\\.$`, 'm'));
    assert.match(text, /^FastCGI: manager \(pid \d+\): ready: 2 servers accepting$/m, 'the program\'s output goes to the log command too');
    assert.match(text, /^exiting$/m);
  } finally {
    if (isAlive(daemon)) process.kill(-daemon, 'SIGKILL');
  }
});

test('auto-restart with --signal-on-hup and --signal-on-term, output to --log-file', async () => {
  const dir = tempDir();
  const log = path.join(dir, 'log');
  const program = 'trap "echo gen $SERVER_STARTER_GENERATION got USR1; exit 0" USR1; trap "echo gen $SERVER_STARTER_GENERATION got INT; exit 0" INT; while :; do sleep 0.1; done';
  const ss = startStarter([
    `--path=${path.join(dir, 's.sock')}`,
    `--log-file=${log}`,
    '--enable-auto-restart',
    '--auto-restart-interval=1',
    '--kill-old-delay=0',
    '--interval=0.2',
    '--signal-on-hup=usr1',
    '--signal-on-term=SIGINT',
    '--',
    'sh',
    '-c',
    program,
  ]);
  const text = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
  assert.ok(await eventually(() => /^gen 2 got USR1$/m.test(text()), 8_000), text());
  assert.match(text(), /^autorestart triggered \(interval=1\)$/m);
  assert.match(text(), /^gen 1 got USR1$/m, 'the old generation got signal_on_hup');
  ss.kill('SIGTERM');
  assert.equal((await exitedWithOutput(ss)).code, 0);
  assert.match(text(), /^received TERM, sending INT to all workers:\d+$/m);
  assert.match(text(), /^gen \d+ got INT$/m, 'the last generation got signal_on_term');
  assert.match(text(), /^exiting$/m);
  assert.deepEqual(ss.lines, [], 'nothing on stderr: everything went to the log file');
});
