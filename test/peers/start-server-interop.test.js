'use strict';
// Interoperation with the originals: Perl's start_server (Debian's libserver-starter-perl) running
// our examples/hello.js, our start_server running a Perl program written for Server::Starter, each
// side's --restart and --stop against the other's superdaemon, and systemd socket activation.

const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const fs = require('node:fs');
const path = require('node:path');
const { HELLO, tempDir, startNode, livePids, fcgiRequest, isAlive, eventually, sleep, have, skipWithout, posixVariants } = require('../helpers/helpers');
const {
  SS_ECHO,
  startStarter,
  exitedWithOutput,
  runStarter,
  runCommand,
  requestLoop,
  readStatus,
  generationPids,
  answeringManagers,
  freePort,
  readLine,
} = require('../fixtures/start-server-tools');

const { statusFileContent } = require('../../dist/start-server/decisions');

const PERL_START_SERVER = '/usr/bin/start_server';
const perlSkip = skipWithout(fs.existsSync(PERL_START_SERVER), 'Perl start_server is not installed (Debian package libserver-starter-perl)');
const systemdSkip = skipWithout(have('systemd-socket-activate'), 'systemd-socket-activate is not installed (Debian package systemd)');

function helloEnv(dir) {
  return { PM_N_PROCESSES: '2', FCGI_LISTEN: path.join(dir, 'never-used.sock') };
}

test("Perl's start_server runs hello.js: HUP under a request loop with no failure; our --restart and --stop drive it", { skip: perlSkip }, async () => {
  const dir = tempDir();
  const sock = path.join(dir, 'fcgi.sock');
  const status = path.join(dir, 'status');
  const pidFile = path.join(dir, 'pid');
  const ss = startNode({
    command: PERL_START_SERVER,
    args: [`--path=${sock}`, `--status-file=${status}`, `--pid-file=${pidFile}`, '--', process.execPath, HELLO],
    env: helloEnv(dir),
  });
  await ss.waitFor(/^FastCGI: manager \(pid \d+\): ready: 2 servers accepting$/);
  assert.ok(await eventually(() => /^1:\d+\n$/.test(readStatus(status) ?? ''), 5_000));
  assert.ok(ss.lines.some((l) => /^FastCGI: manager \(pid \d+\): listening on fd \d+$/.test(l)), 'the pool took the socket from SERVER_STARTER_PORT');

  const loop = requestLoop(sock, { maxRequests: 400, maxMs: 20_000 });
  await sleep(300);
  ss.kill('SIGHUP');
  assert.ok(await eventually(() => /^2:\d+\n$/.test(readStatus(status) ?? ''), 10_000), `status: ${readStatus(status)}`);
  const restart = await runStarter(['--restart', `--pid-file=${pidFile}`, `--status-file=${status}`]);
  assert.equal(restart.code, 0, restart.stderr);
  assert.match(readStatus(status), /^3:\d+\n$/);
  const result = await loop.stop();
  assert.deepEqual(result.failures, [], `${result.failures.length} failed requests`);
  assert.ok(result.answered > 10, `only ${result.answered} answered`);
  assert.ok(answeringManagers(ss, result.pids).size >= 2, 'answers came from more than one generation');
  assert.equal(fs.existsSync(path.join(dir, 'never-used.sock')), false);

  const stop = await runStarter(['--stop', `--pid-file=${pidFile}`]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(isAlive(ss.pid), false, 'our --stop returned after Perl\'s start_server had exited (its flock released, its pid gone)');
  assert.equal((await ss.exited).code, 0);
});

const [withPosix, withoutPosix] = posixVariants();
for (const [posix, tcpFd, unixFd] of [
  [withPosix, undefined, 4],
  [withoutPosix, 7, 3], // and the TCP socket placed at fd 7 with --port=host:port=7
]) {
  test(`our start_server runs a Perl Server::Starter program (${posix.name}); Perl's --restart and --stop drive it`, { skip: perlSkip || posix.skip }, async () => {
    const dir = tempDir();
    const sock = path.join(dir, 'echo.sock');
    const status = path.join(dir, 'status');
    const pidFile = path.join(dir, 'pid');
    const port = await freePort();
    const ss = startStarter(
      [`--port=127.0.0.1:${port}${tcpFd === undefined ? '' : `=${tcpFd}`}`, `--path=${sock}`, `--status-file=${status}`, `--pid-file=${pidFile}`, '--', 'perl', SS_ECHO],
      posix.env,
    );
    await ss.waitFor(new RegExp(`^ss-echo\\.pl: pid \\d+ generation 1 accepting on 127\\.0\\.0\\.1:${port} \\(fd ${tcpFd ?? 3}\\)$`));
    const [gen1] = generationPids(ss);
    // Up (and in the status file) once it has lived for --interval: it does not report readiness.
    assert.ok(await eventually(() => readStatus(status) === `1:${gen1}\n`, 5_000));
    // Byte for byte what Perl's start_server would set, read back through Perl's server_ports().
    assert.equal(
      await readLine(port),
      `gen=1 pid=${gen1} port=127.0.0.1:${port}=${tcpFd ?? 3};${sock}=${unixFd} ports=${sock}=${unixFd},127.0.0.1:${port}=${tcpFd ?? 3}\n`,
    );

    // Perl's --restart reads our pid and status files; a request loop meanwhile sees no failure.
    let failures = 0;
    let answered = 0;
    let stop = false;
    const loop = (async () => {
      const deadline = Date.now() + 15_000;
      for (let i = 0; i < 1000 && !stop && Date.now() < deadline; i++) {
        try {
          if (/^gen=\d+ /.test(await readLine(port))) answered++;
          else failures++;
        } catch {
          failures++;
        }
      }
    })();
    const seen = watchStatus(status);
    const restart = await runCommand(PERL_START_SERVER, ['--restart', `--pid-file=${pidFile}`, `--status-file=${status}`]);
    stop = true;
    await loop;
    const contents = await seen.stop();
    assert.equal(restart.code, 0, restart.stderr);
    const gen2 = generationPids(ss)[1];
    assert.equal(readStatus(status), `2:${gen2}\n`);
    assert.ok(contents.has(`1:${gen1}\nstarting:2:${gen2}\n`), `Perl's --restart read our starting: line on the way: ${[...contents].join(' | ')}`);
    assert.equal(failures, 0, `${failures} failed connections of ${answered + failures}`);
    assert.ok(answered > 10, `only ${answered} answered`);
    assert.match(await readLine(port), new RegExp(`^gen=2 pid=${gen2} `));
    assert.ok(!ss.lines.some((l) => /accept:/.test(l)), 'the Perl program\'s blocking accept() never failed (the socket is in blocking mode)');

    // Perl's --stop waits on our pid file's flock until we have exited.
    const stopped = await runCommand(PERL_START_SERVER, ['--stop', `--pid-file=${pidFile}`]);
    assert.equal(stopped.code, 0, stopped.stderr);
    // It returned once we released the lock: after every generation had exited and the files were gone.
    assert.equal(isAlive(gen2), false);
    assert.equal(fs.existsSync(status), false);
    assert.equal(fs.existsSync(sock), false);
    assert.equal(fs.existsSync(pidFile), false);
    assert.equal((await exitedWithOutput(ss)).code, 0);
    assert.equal(ss.lines.at(-1), 'exiting');
  });
}

test('systemd socket activation (systemd-socket-activate): hello.js serves on LISTEN_FDS, and its workers do not see the variables', { skip: systemdSkip }, async () => {
  const dir = tempDir();
  const sock = path.join(dir, 'activated.sock');
  const env = helloEnv(dir);
  const pm = startNode({
    command: 'systemd-socket-activate',
    args: ['-l', sock, '-E', `PM_N_PROCESSES=${env.PM_N_PROCESSES}`, '-E', `FCGI_LISTEN=${env.FCGI_LISTEN}`, '--', process.execPath, HELLO],
  });
  await pm.waitFor(/Listening on .* as 3\./);
  // The first connection starts the program (systemd-socket-activate execs it in its own pid); the
  // request waits in the backlog until a worker accepts it.
  const first = await fcgiRequest(sock);
  assert.ok(first.ok, first.stdout + first.stderr);
  await pm.waitFor(new RegExp(`^FastCGI: manager \\(pid ${pm.pid}\\): listening on fd 3$`));
  const workers = livePids(pm);
  assert.equal(workers.length, 2);
  for (const pid of workers) {
    const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    assert.ok(!environ.some((v) => /^LISTEN_(FDS|PID|FDNAMES)=/.test(v)), `worker ${pid} does not see systemd's variables`);
  }
  pm.kill('SIGHUP');
  assert.ok(await eventually(() => livePids(pm).length === 2 && workers.every((pid) => !livePids(pm).includes(pid)), 8_000));
  const after = await fcgiRequest(sock);
  assert.ok(after.ok);
  assert.ok(!workers.includes(Number(/pid=(\d+)/.exec(after.body)[1])), 'a new worker answers on the same socket');
  assert.equal(fs.existsSync(env.FCGI_LISTEN), false);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('UDP (--port=host:uPORT): a Perl program answers datagrams on the socket from SERVER_STARTER_PORT, across a HUP', { skip: perlSkip }, async () => {
  const port = await new Promise((resolve) => {
    const probe = dgram.createSocket('udp4').bind(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const dir = tempDir();
  const status = path.join(dir, 'status');
  const ss = startStarter([`--port=127.0.0.1:u${port}`, `--status-file=${status}`, '--interval=0.2', '--', 'perl', path.join(__dirname, '..', 'fixtures', 'ss-udp-echo.pl')]);
  await ss.waitFor(new RegExp(`^ss-udp-echo\\.pl: generation 1 on 127\\.0\\.0\\.1:${port} \\(fd 3\\)$`));
  assert.equal(await udpExchange(port, 'ping'), 'ping gen=1');
  assert.ok(await eventually(() => /^1:\d+\n$/.test(readStatus(status) ?? ''), 5_000));
  ss.kill('SIGHUP');
  assert.ok(await eventually(() => /^2:\d+\n$/.test(readStatus(status) ?? ''), 5_000));
  assert.equal(await udpExchange(port, 'pong'), 'pong gen=2');
  ss.kill('SIGTERM');
  assert.equal((await ss.exited).code, 0);
});

test("our --restart against Perl's start_server, whose new release exits at start: fails after its --ready-timeout while the old one serves", { skip: perlSkip }, async () => {
  const dir = tempDir();
  const status = path.join(dir, 'status');
  const pidFile = path.join(dir, 'pid');
  const port = await freePort();
  const program = `[ -e broken ] && exit 3; exec perl ${SS_ECHO}`;
  const ss = startNode({
    command: PERL_START_SERVER,
    args: [`--port=127.0.0.1:${port}`, `--status-file=${status}`, `--pid-file=${pidFile}`, `--dir=${dir}`, '--', 'sh', '-c', program],
  });
  await ss.waitFor(/^ss-echo\.pl: pid \d+ generation 1 accepting/);
  assert.ok(await eventually(() => /^1:\d+\n$/.test(readStatus(status) ?? ''), 10_000));
  fs.writeFileSync(path.join(dir, 'broken'), '');
  const restart = ['--restart', `--pid-file=${pidFile}`, `--status-file=${status}`];
  // Perl's start_server retries the broken release every --interval and writes nothing about it.
  const broken = runStarter([...restart, '--ready-timeout=3'], { timeoutMs: 60_000 });
  const answers = [];
  for (let i = 0; i < 20 && answers.length < 5; i++) {
    answers.push(await readLine(port));
    await sleep(200);
  }
  const result = await broken;
  assert.equal(result.code, 1, `exit status ${result.code}; stderr: ${result.stderr}`);
  assert.match(result.stderr, /^start_server: restart failed: no generation newer than 1 appeared in the status file within 3 s of the HUP \(--ready-timeout\); the old generation keeps serving\n$/);
  assert.ok(ss.count(/^new worker \d+ seems to have failed to start/) >= 1, ss.lines.join('\n'));
  assert.ok(answers.length === 5 && answers.every((a) => /^gen=1 /.test(a)), `the old generation answered: ${answers}`);
  assert.match(await readLine(port), /^gen=1 /);
  // Fixed: Perl's own retry brings the new generation up; our --restart then works as usual.
  fs.rmSync(path.join(dir, 'broken'));
  assert.ok(await eventually(() => /^\d+:\d+\n$/.test(readStatus(status) ?? '') && !readStatus(status).startsWith('1:'), 15_000), readStatus(status));
  const fixed = await runStarter(restart, { timeoutMs: 60_000 });
  assert.equal(fixed.code, 0, fixed.stderr);
  const stop = await runStarter(['--stop', `--pid-file=${pidFile}`]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal((await ss.exited).code, 0);
});

test("Perl's restart_server skips our starting: and failed: status lines: it waits for generation max+1 of the generation:pid lines only", { skip: perlSkip }, async () => {
  const dir = tempDir();
  const status = path.join(dir, 'status');
  const pidFile = path.join(dir, 'pid');
  // Stands in for start_server: it only has to take the HUP.
  const fake = startNode({ command: 'sh', args: ['-c', 'trap "echo got HUP >&2" HUP; while :; do sleep 0.1; done'] });
  fs.writeFileSync(pidFile, `${fake.pid}\n`);
  // What our start_server writes (its own writer), with the extra lines Perl must not count.
  const write = (text) => (fs.writeFileSync(`${status}.tmp`, text), fs.renameSync(`${status}.tmp`, status));
  const before = statusFileContent([{ generation: 1, pid: 111 }], {
    starting: { generation: 3, pid: 333 },
    failed: { generation: 2, pid: 222, reason: 'was not ready within 5 s (--ready-timeout)' },
  });
  assert.equal(before, '1:111\nstarting:3:333\nfailed:2:222:was not ready within 5 s (--ready-timeout)\n');
  write(before);
  const restart = runCommand(PERL_START_SERVER, ['--restart', `--pid-file=${pidFile}`, `--status-file=${status}`], { timeoutMs: 30_000 });
  await fake.waitFor(/^got HUP$/);
  // Had Perl counted 3 (or 2) as a generation, it would wait for 4 (or 3), or for a single line: never done.
  write(statusFileContent([{ generation: 2, pid: 222 }], { starting: { generation: 4, pid: 444 }, failed: { generation: 3, pid: 333, reason: 'exited' } }));
  const result = await restart;
  assert.equal(result.code, 0, `exit status ${result.code}; stderr: ${result.stderr}`);
  fake.kill('SIGKILL');
});

/** Every distinct content of a status file, polled every 20 ms until stop() (bounded: 60 s). */
function watchStatus(file) {
  const contents = new Set();
  let stopped = false;
  const done = (async () => {
    const deadline = Date.now() + 60_000;
    while (!stopped && Date.now() < deadline) {
      const text = readStatus(file);
      if (text !== undefined) contents.add(text);
      await sleep(20);
    }
    return contents;
  })();
  return {
    stop() {
      stopped = true;
      return done;
    },
  };
}

function udpExchange(port, text) {
  return new Promise((resolve, reject) => {
    const client = dgram.createSocket('udp4');
    const timer = setTimeout(() => (client.close(), reject(new Error('no UDP answer'))), 5_000);
    client.on('message', (message) => {
      clearTimeout(timer);
      client.close();
      resolve(String(message));
    });
    client.send(text, port, '127.0.0.1');
  });
}
