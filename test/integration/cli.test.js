'use strict';
// fcgi-pm: an unchanged node-fastcgi app (test/fixtures/cli-app, with its own copy of node-fastcgi)
// run in a pool by `fcgi-pm [options] app.js`. First the pure parts (flags, command line, config),
// then the manager's behaviours through fcgi-pm, then fcgi-pm under start_server, spawn-fcgi and systemd.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const {
  ROOT,
  tempDir,
  startNode,
  livePids,
  fcgiRequest,
  pidOf,
  isAlive,
  eventually,
  sleep,
  have,
  skipWithout,
  freePort,
} = require('../helpers/helpers');
const { RawConnection, TYPE, request } = require('../helpers/fcgi-raw-client');
const { requestLoop, readStatus, START_SERVER } = require('../fixtures/start-server-tools');

const { KNOWN_PARAMS, validateParameter } = require('../../dist/params');
const { parameterFlags, kebabCase } = require('../../dist/cli/flags');
const { parseCommandLine, UsageError } = require('../../dist/cli/command-line');
const { checkConfigParams, effectiveParams } = require('../../dist/cli/config');
const { encodeWorkerParams, decodeWorkerParams } = require('../../dist/cli/worker-params');

const { BIN, APP_DIR: appDirectory, startCli, runFcgiPm } = require('../helpers/entry-points');

const APP_DIR = appDirectory();

/** Runs fcgi-pm to completion: { code, stdout, stderr }. */
const runCli = (args, { timeoutMs = 20_000, ...options } = {}) => runFcgiPm(args, { timeoutMs, ...options });

/** The pids the app's code was loaded in (the fixture logs a line when it loads). */
function loadedIn(proc) {
  return proc.lines.map((l) => /^cli-app: loaded in pid (\d+)/.exec(l)).filter(Boolean).map((m) => Number(m[1]));
}

// ---- Pure parts -------------------------------------------------------------------------------

test('flags: one per parameter of the table but the library-only ones, in kebab-case, with the aliases and placeholders', () => {
  const flags = parameterFlags();
  assert.deepEqual(flags.map((f) => f.param), KNOWN_PARAMS.filter((p) => p !== 'role' && p !== 'logger'));
  for (const flag of flags) assert.equal(flag.name, flag.param.replace(/_/g, '-'));
  const byParam = Object.fromEntries(flags.map((f) => [f.param, f]));
  for (const param of ['no_signals', 'log_timestamps', 'status_listen_public']) assert.equal(byParam[param].isSwitch, true, param);
  for (const param of ['n_processes', 'listen', 'pid_fname', 'log_file', 'access_format', 'user']) assert.equal(byParam[param].isSwitch, false, param);
  // Placeholders come from the kind of value: every timeout reads SECONDS, every file FILE.
  for (const param of ['die_timeout', 'reload_timeout', 'reload_warmup', 'request_terminate_timeout', 'process_idle_timeout']) assert.equal(byParam[param].placeholder, 'SECONDS', param);
  for (const param of ['pid_fname', 'log_file', 'access_log', 'slowlog']) assert.equal(byParam[param].placeholder, 'FILE', param);
  assert.equal(byParam.user.placeholder, 'USER');
  assert.equal(byParam.group.placeholder, 'GROUP');
  assert.equal(byParam.n_processes.short, 'n');
  assert.deepEqual(byParam.n_processes.aliases, ['processes']);
  assert.equal(byParam.listen.short, 'l');
  assert.deepEqual(byParam.pid_fname.aliases, ['pid-file']);
  assert.deepEqual(byParam.pm_title.aliases, ['title']);
  assert.equal(byParam.die_timeout.description, 'seconds to wait for workers after TERM before KILL; 0: for ever (default 60)');
  assert.equal(kebabCase('a_b_c'), 'a-b-c');
});

test('command line: flags, aliases, the app and its own arguments; the last flag for a parameter wins', () => {
  assert.deepEqual(parseCommandLine(['-n', '4', '--listen', '/run/a.sock', 'app.js', '--port', '3', 'x']), {
    action: 'run',
    configFile: undefined,
    flagParams: { n_processes: 4, listen: '/run/a.sock' },
    app: 'app.js',
    args: ['--port', '3', 'x'],
  });
  const c = parseCommandLine(['--processes=2', '--n-processes', '3', '--pid-file', 'p', '--title', 't', '--no-signals', '--die-timeout', '1.5', '--', '-odd.js']);
  assert.deepEqual(c.flagParams, { n_processes: 3, pid_fname: 'p', pm_title: 't', no_signals: true, die_timeout: 1.5 });
  assert.equal(c.app, '-odd.js');
  assert.equal(parseCommandLine(['--check-config', '--config', 'c.json', 'a.js']).action, 'check');
  assert.equal(parseCommandLine(['--check-config', '--config', 'c.json', 'a.js']).configFile, 'c.json');
  // A switch can be turned off by a later flag (over a config file that turns it on); the last wins.
  assert.deepEqual(parseCommandLine(['--log-timestamps', '--no-log-timestamps', 'a.js']).flagParams, { log_timestamps: false });
  assert.deepEqual(parseCommandLine(['--no-log-timestamps', '--log-timestamps', 'a.js']).flagParams, { log_timestamps: true });
  assert.deepEqual(parseCommandLine(['--no-signals', 'a.js']).flagParams, { no_signals: true });
  assert.throws(() => parseCommandLine(['--no-no-signals', 'a.js']), /unknown option --no-no-signals/);
  assert.deepEqual(parseCommandLine(['--help']), { action: 'help' });
  assert.deepEqual(parseCommandLine(['--version']), { action: 'version' });
  for (const [argv, message] of [
    [['--frobnicate', 'a.js'], /^unknown option --frobnicate$/],
    [['--wat', 'a.js'], /^unknown option --wat \(did you mean --watch\?\)$/],
    [['--workers', '3', 'a.js'], /^unknown option --workers \(did you mean --n-processes\?\)$/],
    [['--role', 'server', 'a.js'], /^unknown option --role$/],
    [['-n', 'lots', 'a.js'], /^-n: n_processes must be a number, got "lots"$/],
    [['--processes', '-1', 'a.js'], /^--processes: n_processes must not be negative, got -1$/],
    [['--listen', 'tcp://127.0.0.1:9000', 'a.js'], /^--listen: listen: .* is a URL/],
    [['--no-signals=1', 'a.js'], /^--no-signals takes no value$/],
    [['-n'], /^-n needs a value$/],
    [['-n', '2'], /^no app given/],
  ]) {
    assert.throws(() => parseCommandLine(argv), (err) => err instanceof UsageError && message.test(err.message), argv.join(' '));
  }
});

test('config: parameter names only, validated; defaults < file < flags', () => {
  const file = checkConfigParams({ n_processes: '2', die_timeout: 5, pm_title: 'from-file' }, 'c.json');
  assert.deepEqual(file, { n_processes: 2, die_timeout: 5, pm_title: 'from-file' });
  const merged = effectiveParams(file, { n_processes: 3 }, 8);
  assert.equal(merged.n_processes, 3, 'the flag wins over the file');
  assert.equal(merged.die_timeout, 5, 'the file wins over the default');
  assert.equal(merged.start_delay, 0, 'the default fills the rest');
  assert.equal(effectiveParams({}, {}, 8).n_processes, 8);
  assert.equal('role' in merged, false);
  assert.throws(() => checkConfigParams({ workers: 2 }, 'c.json'), /^Error: c\.json: unknown parameter 'workers' \(did you mean 'n_processes'\?\)$|c\.json: unknown parameter 'workers' \(did you mean 'n_processes'\?\)/);
  assert.throws(() => checkConfigParams({ role: 'server' }, 'c.json'), /c\.json: role is set by manage\(\) itself/);
  assert.throws(() => checkConfigParams({ logger: console }, 'c.js'), /c\.js: logger is for the library \(new ProcManager\(\{ logger \}\)\); fcgi-pm logs to stderr, or to --log-file/);
  assert.throws(() => checkConfigParams({ die_timeout: -1 }, 'c.json'), /c\.json: die_timeout must not be negative/);
  assert.throws(() => checkConfigParams([1], 'c.json'), /c\.json: must hold an object/);
  assert.deepEqual(decodeWorkerParams(encodeWorkerParams({ n_processes: 2, listen: { fd: 0 } })), { n_processes: 2, listen: { fd: 0 } });
  assert.throws(() => decodeWorkerParams('[]'), /JSON object/);
});

// ---- The manager, through fcgi-pm and an unchanged app ----------------------------------------

test('serves an unchanged app (its own node-fastcgi, its listen() taken over) in workers only; fcgi-pm is the manager; idle TERM logs Perl\'s lines', async () => {
  const pidFile = path.join(tempDir(), 'pm.pid');
  const pm = await startCli({ n: 3, flags: ['--pid-file', pidFile], appArgs: ['one', 'two'] });
  const workers = livePids(pm);
  assert.equal(workers.length, 3);
  assert.equal(fs.readFileSync(pidFile, 'utf8'), `${pm.pid}\n`, 'the pid file names the fcgi-pm process');
  assert.equal(fs.readFileSync(`/proc/${pm.pid}/comm`, 'utf8').trim(), 'node-fcgi-pm');
  const seen = new Set();
  for (let i = 0; i < 60 && seen.size < 2; i++) {
    const res = await fcgiRequest(pm.address);
    assert.ok(res.ok, `request ${i}: ${res.stdout}${res.stderr}`);
    seen.add(pidOf(res));
  }
  assert.ok(seen.size >= 2 && [...seen].every((pid) => workers.includes(pid)), `answers from the workers: ${[...seen]}`);
  // The app ran in each worker, never in the manager, with its arguments and its own node-fastcgi.
  assert.deepEqual(loadedIn(pm).sort(), [...workers].sort());
  for (const line of pm.lines.filter((l) => l.startsWith('cli-app: loaded'))) {
    assert.ok(line.includes(`node-fastcgi from ${path.join(APP_DIR, 'node_modules', 'node-fastcgi')}, args ["one","two"]`), line);
  }
  for (const pid of workers) assert.ok(pm.lines.includes(`FastCGI: server (pid ${pid}): server.listen() taken over: accepting on the manager's socket instead`), pm.lines.join('\n'));
  assert.equal(pm.count(/worker path not applied/), 0, "the app's node-fastcgi copy is recognised and served by the worker path");

  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
  const p = pm.pid;
  for (const expected of [
    `FastCGI: manager (pid ${p}): initialized`,
    `FastCGI: manager (pid ${p}): listening on unix:${pm.address}`,
    `FastCGI: manager (pid ${p}): ready: 3 servers accepting`,
    `FastCGI: manager (pid ${p}): received signal TERM`,
    `FastCGI: manager (pid ${p}): sending TERM to PIDs, ${workers.join(' ')}`,
    `FastCGI: manager (pid ${p}): dying: safe exit from signal TERM`,
    ...workers.flatMap((w) => [
      `FastCGI: manager (pid ${p}): server (pid ${w}) started`,
      `FastCGI: server (pid ${w}): initialized`,
      `FastCGI: server (pid ${w}): safe exit after SIGTERM`,
      `FastCGI: manager (pid ${p}): server (pid ${w}) exited with status 0`,
    ]),
  ]) {
    assert.ok(pm.lines.includes(expected), `missing line: ${expected}\n${pm.lines.join('\n')}`);
  }
  assert.equal(fs.existsSync(pidFile), false, 'the pid file is removed');
  assert.equal(fs.existsSync(pm.address), false, 'the socket file is removed');
});

test('an app that calls .listen(port) (the port from its arguments) is served on the manager\'s socket; the port stays unbound', async () => {
  const port = await freePort();
  const pm = await startCli({ n: 1, app: 'app-port.js', appArgs: [String(port)] });
  const [worker] = livePids(pm);
  assert.ok(pm.lines.includes(`FastCGI: server (pid ${worker}): server.listen(${port}) taken over: accepting on the manager's socket instead`), pm.lines.join('\n'));
  const res = await fcgiRequest(pm.address);
  assert.ok(res.ok, res.stdout + res.stderr);
  assert.equal(pidOf(res), worker);
  const refused = await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve(false)));
    socket.on('error', (err) => resolve(err.code === 'ECONNREFUSED'));
  });
  assert.ok(refused, `nothing listens on ${port}`);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('crash loop: in a pool that has served, workers that exit at start are respawned with a growing delay', async () => {
  const crash = path.join(tempDir(), 'crash');
  const pm = await startCli({ n: 4, env: { CLI_APP_CRASH_ON_START: crash } });
  await sleep(1_200); // up longer than a crash at start (1 s): their deaths are not one
  fs.writeFileSync(crash, ''); // from now on the app exits as it starts
  const startedBefore = pm.count(/server \(pid \d+\) started/);
  for (const pid of livePids(pm)) process.kill(pid, 'SIGKILL');
  await sleep(4_000);
  const forks = pm.count(/server \(pid \d+\) started/) - startedBefore;
  assert.ok(forks >= 4 && forks <= 24, `${forks} forks in 4 s\n${pm.lines.join('\n')}`);
  assert.equal(pm.count(/no server could start/), 0, 'a pool that has served is not given up on');
  assert.ok(pm.count(/exited with status 768 \(exit code 3\)/) >= 4);
  const delays = pm.lines.map((l) => /forking again in ([\d.]+) s/.exec(l)).filter(Boolean).map((m) => Number(m[1]));
  assert.ok(delays.length >= 3 && delays.at(-1) > delays[0], `the delay grows: ${delays}`);
  assert.equal(loadedIn(pm).includes(pm.pid), false, 'the manager never loads the app');
  fs.rmSync(crash);
  await pm.waitForNext(/ready|accepting|started/, 15_000);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('an app that fails as it loads (a syntax error): after 5 tries fcgi-pm exits 3, its error logged once; a connection waiting meanwhile is closed', async () => {
  fs.writeFileSync(path.join(APP_DIR, 'broken.js'), "const fcgi = require('node-fastcgi');\nfcgi.createServer((req, res) => { res.end('x') ).listen();\n");
  const pm = await startCli({ n: 2, app: 'broken.js', waitReady: false });
  await pm.waitFor(/listening on unix:/);
  const waiting = await RawConnection.open(pm.address);
  await waiting.write(request(1));
  const { code } = await pm.exited;
  assert.equal(code, 3, pm.lines.join('\n'));
  assert.equal(pm.count(/SyntaxError: Unexpected token/), 1, `the error once:\n${pm.lines.join('\n')}`);
  assert.ok(pm.lines.some((l) => /^FastCGI: manager \(pid \d+\): server \(pid \d+\) failed to start: .*broken\.js:2$/.test(l)), pm.lines.join('\n'));
  assert.equal(pm.count(/failed to start: the same error as the previous one/), 4);
  assert.match(pm.lines.at(-1), /dying: no server could start: 5 in a row failed before accepting, and none ever has; the app fails as it loads \(its error is above\)$/);
  assert.equal(pm.count(/uncaught exception outside any request/), 0);
  const ended = await Promise.race([waiting.ended, sleep(5_000).then(() => 'still open')]);
  assert.notEqual(ended, 'still open', 'the waiting connection does not hang');
  assert.equal(waiting.records.length, 0);
  assert.equal(fs.existsSync(pm.address), false, 'the socket is gone: the web server is refused at once');
});

test('an HTTP app (node:http) run by mistake: each worker says what it listened on and what fcgi-pm serves instead', async () => {
  const port = await freePort();
  const pm = await startCli({ n: 1, app: 'http-app.js', appArgs: [String(port)], waitReady: false });
  assert.equal((await pm.exited).code, 3);
  assert.ok(
    pm.lines.some((l) => l.includes(`fcgi-pm: http-app.js ended without calling listen() on a FastCGI server: this worker has nothing to serve (it called Server.listen(${port}), which is not a FastCGI server: fcgi-pm serves node-fastcgi's, made with fcgi.createServer(handler); see the README's Frameworks)`)),
    pm.lines.join('\n'),
  );
});

test('app.ts with no loader: fcgi-pm gives up (exit 3) and says how to give one', { skip: process.features.typescript ? 'this Node.js runs TypeScript itself' : false }, async () => {
  fs.writeFileSync(path.join(APP_DIR, 'typed.ts'), "import * as fcgi from 'node-fastcgi';\nconst handler: (req: unknown, res: { end(s: string): void }) => void = (req, res) => res.end('typed');\nfcgi.createServer(handler).listen();\n");
  const pm = await startCli({ n: 1, app: 'typed.ts', waitReady: false });
  assert.equal((await pm.exited).code, 3);
  assert.ok(pm.lines.some((l) => /failed to start: TypeError \[ERR_UNKNOWN_FILE_EXTENSION\]: Unknown file extension "\.ts"/.test(l)), pm.lines.join('\n'));
  assert.equal(pm.count(/^\(TypeScript needs a loader, given to the manager as a node option: node --import tsx node_modules\/\.bin\/fcgi-pm app\.ts/), 1);
});

test('a bad FastCGI record closes its own connection only: the worker lives and serves on', async () => {
  const pm = await startCli({ n: 1 });
  const [worker] = livePids(pm);
  const bad = Buffer.from(request(1, { keepConn: true }));
  bad[0] = 2; // FastCGI version 2
  const conn = await RawConnection.open(pm.address);
  await conn.write(bad);
  await conn.until((c) => c.finReceived || c.endedState, 5_000, 'the worker closing the bad connection');
  assert.ok(!conn.records.some((r) => r.type === TYPE.STDOUT), 'no answer to a bad record');
  conn.close();
  const good = await RawConnection.open(pm.address);
  await good.write(request(2, { keepConn: true }));
  const answer = await good.response(2);
  good.close();
  assert.equal(answer.status, 200);
  assert.equal(answer.body, `pid=${worker}\n`);
  assert.ok(isAlive(worker));
  assert.equal(pm.count(/exited/), 0, pm.lines.join('\n'));
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('an app that never calls listen(): each worker says so and exits 1, and fcgi-pm gives up after 5 (exit 3)', async () => {
  const pm = await startCli({ n: 1, app: 'no-listen.js', waitReady: false });
  assert.equal((await pm.exited).code, 3);
  assert.ok(
    pm.lines.some((l) => /^FastCGI: server \(pid \d+\): fcgi-pm: no-listen\.js ended without calling listen\(\) on a FastCGI server: this worker has nothing to serve$/.test(l)),
    pm.lines.join('\n'),
  );
  assert.equal(pm.count(/exited with status 256 \(exit code 1\)/), 5);
  assert.ok(pm.count(/forking again in/) >= 1, 'the backoff applies meanwhile');
});

test('TERM to npx (npm exec) running fcgi-pm: npm exits without passing it on, and the manager stops by itself', { skip: skipWithout(have('npx'), 'npx is not installed') }, async () => {
  // A project with fcgi-pm installed, as `npx --no-install fcgi-pm` finds it.
  fs.mkdirSync(path.join(APP_DIR, 'node_modules', '.bin'), { recursive: true });
  const bin = path.join(APP_DIR, 'node_modules', '.bin', 'fcgi-pm');
  if (!fs.existsSync(bin)) fs.symlinkSync(BIN, bin);
  const address = path.join(tempDir(), 'fcgi.sock');
  const npx = startNode({ command: 'npx', args: ['--no-install', 'fcgi-pm', '-n', '2', '-l', address, 'app.js'], cwd: APP_DIR });
  const ready = await npx.waitFor(/ready: 2 servers accepting/, 30_000);
  const manager = Number(/manager \(pid (\d+)\)/.exec(ready)[1]);
  assert.notEqual(manager, npx.pid, 'npm is not the manager');
  const workers = livePids(npx);
  assert.ok((await fcgiRequest(address)).ok);
  process.kill(npx.pid, 'SIGTERM');
  await npx.waitFor(/the process that started this manager under npx \(npm exec; pid \d+\) has exited; stopping as for TERM/, 10_000);
  assert.ok(await eventually(() => !isAlive(manager) && workers.every((pid) => !isAlive(pid)), 15_000), `left running: ${[manager, ...workers].filter(isAlive)}`);
});

// ---- Options, config file and --check-config ---------------------------------------------------

test('--config: a JSON file and a JS module; flags win over them; --check-config prints the result', async () => {
  const dir = tempDir();
  const json = path.join(dir, 'pm.json');
  fs.writeFileSync(json, JSON.stringify({ n_processes: 1, die_timeout: 7, pm_title: 'from-file' }));
  const js = path.join(dir, 'pm.config.js');
  fs.writeFileSync(js, "module.exports = { n_processes: 3, start_delay: '0.1' };\n");
  const sock = path.join(dir, 'c.sock');

  const checked = await runCli(['--check-config', '--config', json, '-n', '2', '--title', 'from-flag', '-l', sock, 'app.js', 'x']);
  assert.equal(checked.code, 0, checked.stderr);
  const config = JSON.parse(checked.stdout);
  assert.equal(config.app, path.join(APP_DIR, 'app.js'));
  assert.deepEqual(config.args, ['x']);
  assert.equal(config.n_processes, 2, 'flag over file');
  assert.equal(config.pm_title, 'from-flag', 'flag over file');
  assert.equal(config.die_timeout, 7, 'file over default');
  assert.equal(config.start_delay, 0, 'default');
  assert.equal(config.socket, `unix:${sock}`);
  const fromModule = JSON.parse((await runCli(['--check-config', '--config', js, '-l', sock, 'app.js'])).stdout);
  assert.equal(fromModule.n_processes, 3);
  assert.equal(fromModule.start_delay, 0.1);

  // And running: the flags' 2 workers under the flag's title, the file's die_timeout.
  const pm = await startCli({ n: 2, flags: ['--config', json, '--title', 'from-flag'] });
  assert.equal(livePids(pm).length, 2);
  assert.equal(fs.readFileSync(`/proc/${pm.pid}/comm`, 'utf8').trim(), 'from-flag');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('--log-file, --log-timestamps, --access-log: the pool\'s lines and the unchanged app\'s own output, stamped, in one file; USR1 reopens both', async () => {
  const dir = tempDir();
  const log = path.join(dir, 'pool.log');
  const access = path.join(dir, 'access.log');
  const pm = await startCli({ n: 2, flags: ['--log-file', log, '--log-timestamps', '--access-log', access, '--access-format', '%m %r%Q%q %s %p'], waitReady: false });
  const readLog = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
  assert.ok(await eventually(() => /ready: 2 servers accepting/.test(readLog(log)), 20_000), readLog(log));
  for (let i = 1; i <= 4; i++) assert.ok((await fcgiRequest(pm.address, { query: `n=${i}` })).ok);
  fs.renameSync(log, `${log}.1`);
  fs.renameSync(access, `${access}.1`);
  pm.kill('SIGUSR1');
  assert.ok(await eventually(() => /received signal USR1: logs reopened/.test(readLog(log)), 10_000));
  await sleep(300);
  assert.ok((await fcgiRequest(pm.address, { query: 'n=5' })).ok);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
  assert.deepEqual(pm.lines, [], 'nothing on stderr');

  const stamped = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
  const all = `${readLog(`${log}.1`)}${readLog(log)}`.split('\n').filter(Boolean);
  for (const line of all) assert.match(line, stamped);
  assert.ok(all.some((l) => /Z cli-app: loaded in pid \d+/.test(l)), "the app's own stderr is in the log");
  for (let i = 1; i <= 4; i++) assert.match(readLog(`${log}.1`), new RegExp(`request started: /\\?n=${i} \\(pid \\d+\\)`));
  assert.match(readLog(log), /request started: \/\?n=5 \(pid \d+\)/);
  const accessLines = (file) => readLog(file).split('\n').filter(Boolean);
  // Each worker writes its own lines (gathered for up to 50 ms): the two workers' lines need not be in order.
  assert.deepEqual(accessLines(`${access}.1`).map((l) => l.replace(/ \d+$/, '')).sort(), [1, 2, 3, 4].map((i) => `GET /?n=${i} 200`));
  assert.match(accessLines(access).join('\n'), /^GET \/\?n=5 200 \d+$/);
});

test('an ES module app and an ES module config file (export default) run as the CommonJS ones do', async () => {
  const dir = tempDir();
  const config = path.join(dir, 'pm.config.mjs');
  fs.writeFileSync(config, "export default { die_timeout: 7, pm_title: 'esm-pool' };\n");
  const checked = await runCli(['--check-config', '--config', config, '-l', path.join(dir, 's.sock'), 'app.mjs']);
  assert.equal(checked.code, 0, checked.stderr);
  assert.equal(JSON.parse(checked.stdout).die_timeout, 7);
  const pm = await startCli({ n: 2, app: 'app.mjs', flags: ['--config', config] });
  assert.equal(loadedIn(pm).length, 2, 'the module ran in both workers');
  const answer = await fcgiRequest(pm.address, { query: 'esm' });
  assert.ok(answer.ok, answer.stdout);
  assert.ok(livePids(pm).includes(pidOf(answer)));
  assert.equal(fs.readFileSync(`/proc/${pm.pid}/comm`, 'utf8').trim(), 'esm-pool');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('--check-config with a bad value, a bad config file or no socket; an unknown flag: exit 2, one line, nothing listens', async () => {
  const dir = tempDir();
  const sock = path.join(dir, 'never.sock');
  const badConfig = path.join(dir, 'bad.json');
  fs.writeFileSync(badConfig, JSON.stringify({ workers: 2 }));
  for (const [args, message] of [
    [['--check-config', '-n', '-1', '-l', sock, 'app.js'], /^fcgi-pm: -n: n_processes must not be negative, got -1; see fcgi-pm --help$/],
    [['--check-config', '--config', badConfig, '-l', sock, 'app.js'], /^fcgi-pm: --config .*bad\.json: unknown parameter 'workers' \(did you mean 'n_processes'\?\); see fcgi-pm --help$/],
    [['--check-config', '-l', path.join(dir, 'no-dir', 's.sock'), 'app.js'], /^fcgi-pm: listen unix:.*no-dir\/s\.sock: ENOENT \(no such file or directory\): no directory .*no-dir$/],
    [['--check-config', 'app.js'], /^fcgi-pm: no socket to listen on/],
    [['--check-config', '-l', sock, 'missing.js'], /^fcgi-pm: app missing\.js: no such file/],
    [['--check-config', '-n', '0', '-l', sock, 'app.js'], /^fcgi-pm: n_processes must be at least 1/],
    [['--bogus', '-l', sock, 'app.js'], /^fcgi-pm: unknown option --bogus; see fcgi-pm --help$/],
    [['-n', '2', '--die-timeout', 'soon', '-l', sock, 'app.js'], /^fcgi-pm: --die-timeout: die_timeout must be a number, got "soon"/],
  ]) {
    const result = await runCli(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stdout, '');
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], message);
  }
  assert.equal(fs.existsSync(sock), false, 'no socket was made');
});

test('--node-args: the workers run with those node options, after the manager\'s own', async () => {
  assert.deepEqual(validateParameter('node_args', ' --max-old-space-size=512   --import tsx '), ['--max-old-space-size=512', '--import', 'tsx']);
  assert.deepEqual(validateParameter('node_args', ['--title', 'a b']), ['--title', 'a b'], 'a list keeps a value with spaces whole');
  assert.throws(() => validateParameter('node_args', 'app.js --x'), /node_args: "app\.js" is not a node option \(the app is given to fcgi-pm, not here\)/);
  assert.throws(() => validateParameter('node_args', '--inspect -p 1'), /node_args: -p would make node do something else than run the worker/);

  const pm = await startCli({ n: 2, flags: ['--node-args', '--max-old-space-size=123 --enable-source-maps'] });
  try {
    const workers = livePids(pm);
    assert.equal(workers.length, 2);
    // The title a worker sets overwrites its command line in /proc, so each says what node gave it.
    const optionsOf = (pid) => JSON.parse(pm.lines.find((l) => l.startsWith(`cli-app: loaded in pid ${pid},`)).split(', node options ')[1]);
    for (const pid of workers) {
      const options = optionsOf(pid);
      const at = options.indexOf('--max-old-space-size=123');
      assert.ok(at >= 0 && options[at + 1] === '--enable-source-maps', `worker ${pid}: ${options.join(' ')}`);
      assert.equal(at, options.length - 2, 'after every other node option, so that they win');
      assert.equal(options[at - 1], '--max-semi-space-size=16', "max_semi_space's default, just before node_args");
    }
    assert.ok((await fcgiRequest(pm.address)).ok);
  } finally {
    pm.kill('SIGTERM');
    await pm.exited;
  }
});

test('max_semi_space: the workers\' young generation is capped (default 16 MiB); 0, or a size the manager was given itself, leaves theirs alone', async () => {
  const semiSpaceOf = async ({ flags = [], env = {} }) => {
    const pm = await startCli({ n: 1, flags, env });
    try {
      const [pid] = livePids(pm);
      const options = JSON.parse(pm.lines.find((l) => l.startsWith(`cli-app: loaded in pid ${pid},`)).split(', node options ')[1]);
      return options.filter((o) => o.startsWith('--max-semi-space-size'));
    } finally {
      pm.kill('SIGTERM');
      await pm.exited;
    }
  };
  assert.deepEqual(await semiSpaceOf({}), ['--max-semi-space-size=16']);
  assert.deepEqual(await semiSpaceOf({ flags: ['--max-semi-space', '8'] }), ['--max-semi-space-size=8']);
  assert.deepEqual(await semiSpaceOf({ flags: ['--max-semi-space', '0'] }), []);
  // NODE_OPTIONS reaches the workers by the environment, and a command-line option would override it.
  assert.deepEqual(await semiSpaceOf({ env: { NODE_OPTIONS: '--max-semi-space-size=32' } }), []);
  assert.throws(() => validateParameter('max_semi_space', -1), /max_semi_space must not be negative, got -1/);
});

test('env_file and env: the workers get the variables (env over the file, flags over the config file, name by name)', async () => {
  assert.deepEqual(validateParameter('env', 'A=b=c'), { A: 'b=c' });
  assert.deepEqual(validateParameter('env', { N: 1, B: true }), { N: '1', B: 'true' });
  assert.throws(() => validateParameter('env', 'NOEQUALS'), /env must be an object of variables, or NAME=VALUE, got "NOEQUALS"/);
  assert.throws(() => validateParameter('env', { '1X': 'y' }), /env: "1X" is not a variable name/);
  assert.throws(() => validateParameter('env', { X: { y: 1 } }), /env: X must be a string, got an object/);
  const parsed = parseCommandLine(['--env', 'A=1', '--env', 'B=2', '--env', 'A=3', 'app.js']);
  assert.deepEqual(parsed.flagParams.env, { A: '3', B: '2' }, 'repeated flags add up, the last winning');
  assert.deepEqual(effectiveParams({ env: { A: 'file', C: 'file' } }, { env: { A: 'flag' } }, 1).env, { A: 'flag', C: 'file' });

  const dir = tempDir();
  const envFile = path.join(dir, 'app.env');
  fs.writeFileSync(envFile, '# the release\nGREETING="hello world"\nFROM_FILE=file\nOVERRIDDEN=file\nexport EXPORTED=yes\n');
  const config = path.join(dir, 'pool.json');
  fs.writeFileSync(config, JSON.stringify({ env_file: envFile, env: { OVERRIDDEN: 'config', FROM_CONFIG: 'config', BY_FLAG: 'config' } }));
  const pm = await startCli({ n: 1, flags: ['--config', config, '--env', 'BY_FLAG=flag'] });
  try {
    const seen = {};
    for (const name of ['GREETING', 'FROM_FILE', 'OVERRIDDEN', 'EXPORTED', 'FROM_CONFIG', 'BY_FLAG']) {
      const answer = await fcgiRequest(pm.address, { query: `env=${name}` });
      seen[name] = answer.body.trim().split('=')[1];
    }
    assert.deepEqual(seen, { GREETING: 'hello world', FROM_FILE: 'file', OVERRIDDEN: 'config', EXPORTED: 'yes', FROM_CONFIG: 'config', BY_FLAG: 'flag' });
  } finally {
    pm.kill('SIGTERM');
    await pm.exited;
  }
});

/** A config file in `dir` holding `params`; its path. */
function writeConfig(dir, params) {
  const file = path.join(dir, `config-${Object.keys(params).join('-')}.json`);
  fs.writeFileSync(file, JSON.stringify(params));
  return file;
}

test('--check-config refuses exactly what a start refuses: each rule gives both exit 2 and the same one line, and nothing is made', async () => {
  const dir = tempDir();
  const sock = path.join(dir, 'never.sock');
  const slowlog = path.join(dir, 'slow.log');
  const port = await freePort();
  const cases = [
    ['--pm', 'dynamic', '-n', '6'],
    ['--pm', 'dynamic', '-n', '6', '--min-spare-servers', '4', '--max-spare-servers', '2'],
    ['--pm', 'ondemand', '-n', '2', '--start-servers', '1'],
    ['--process-idle-timeout', '5'],
    ['--user', 'nosuchuser'],
    ['--group', 'nogroup'],
    ['--listen-owner', 'nosuchuser'],
    ['--listen-group', 'nosuchgroup'],
    ['--log-file', path.join(dir, 'no-dir', 'pool.log')],
    ['--access-log', path.join(dir, 'no-dir', 'access.log')],
    ['--status-listen', `0.0.0.0:${port}`],
    ['--slowlog', slowlog],
    ['--status-path', '/s', '--ping-path', '/s'],
    ['--node-args', '--no-such-node-option'],
    ['--node-args', '--max-old-space-size=64 --eval=1'],
    // As a config file's env_file: node itself takes `--env-file MISSING` anywhere on its command line,
    // after the script too, and exits 9 (nodejs/node#54232), before fcgi-pm runs.
    ['--config', writeConfig(dir, { env_file: path.join(dir, 'no-such.env') })],
    ['--control', path.join(dir, 'no-dir', 'pool.control')],
    ['--control-group', 'nogroup'],
    ['--control', path.join(dir, 'pool.control'), '--control-group', 'nosuchgroup'],
  ];
  for (const flags of cases) {
    const checked = await runCli(['--check-config', '-n', '2', '-l', sock, ...flags, 'app.js']);
    const started = await runCli(['-n', '2', '-l', sock, ...flags, 'app.js']);
    const what = flags.join(' ');
    assert.equal(checked.code, 2, `--check-config ${what}: ${checked.stdout}${checked.stderr}`);
    assert.equal(started.code, 2, `start ${what}: ${started.stderr}`);
    assert.equal(checked.stderr.trimEnd().split('\n').length, 1, checked.stderr);
    assert.equal(checked.stderr, started.stderr, `the same line for ${what}`);
    assert.equal(fs.existsSync(sock), false, `${what}: no socket was made`);
  }
  assert.equal(fs.existsSync(slowlog), false, 'a check creates no file');
});

test("fcgi-pm's options after the app are the app's arguments: said, with where they go", async () => {
  const result = await runCli(['app.js', '--listen', path.join(tempDir(), 's.sock')]);
  assert.equal(result.code, 2);
  assert.deepEqual(result.stderr.split('\n').slice(0, 2), [
    "fcgi-pm: --listen comes after the app (app.js), so it is the app's own argument; fcgi-pm's options go before the app",
    'fcgi-pm: no socket to listen on; set the `listen` parameter (a unix socket path, \'host:port\' or a port), start it with a listening socket on fd 0 (a web server, spawn-fcgi), or under start_server or systemd socket activation',
  ]);
});

test('--check-config shows listen_mode as a file mode is written', async () => {
  const result = await runCli(['--check-config', '-l', path.join(tempDir(), 's.sock'), '--listen-mode', '0660', 'app.js']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).listen_mode, '0660');
});

test('--check-config good: exit 0, the configuration on stdout, and no socket opened; --help and --version', async () => {
  const sock = path.join(tempDir(), 'checked.sock');
  const result = await runCli(['--check-config', '-l', sock, 'app.js']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
  const config = JSON.parse(result.stdout);
  assert.ok(config.n_processes >= 1);
  assert.equal(config.listen, sock);
  assert.equal(fs.existsSync(sock), false, 'nothing listens');
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  for (const flag of parameterFlags()) assert.ok(help.stdout.includes(`--${flag.name}`), `--help lists --${flag.name}`);
  const version = await runCli(['--version']);
  assert.equal(version.stdout, `${require('../../package.json').version}\n`);
});

test('start_server --path=... -- fcgi-pm app.js: a HUP to start_server brings a new generation, no request fails', async () => {
  const dir = tempDir();
  const sock = path.join(dir, 'ss.sock');
  const status = path.join(dir, 'status');
  const ss = startNode({
    script: START_SERVER,
    args: [`--path=${sock}`, `--status-file=${status}`, '--', process.execPath, BIN, '-n', '2', 'app.js'],
    cwd: APP_DIR,
  });
  await ss.waitFor(/ready: 2 servers accepting/, 20_000);
  assert.ok(ss.lines.some((l) => /^FastCGI: manager \(pid \d+\): listening on fd \d+$/.test(l)), ss.lines.join('\n'));
  assert.ok(await eventually(() => /^1:\d+\n$/.test(readStatus(status) ?? ''), 10_000), `status: ${readStatus(status)}`);
  const [gen1] = /^1:(\d+)/.exec(readStatus(status)).slice(1).map(Number);
  const loop = requestLoop(sock, { maxRequests: 400, maxMs: 25_000 });
  await eventually(() => ss.count(/^request started/) >= 3, 10_000);
  ss.kill('SIGHUP');
  assert.ok(await eventually(() => /^2:\d+\n$/.test(readStatus(status) ?? ''), 20_000), `status: ${readStatus(status)}`);
  const gen2 = Number(/^2:(\d+)/.exec(readStatus(status))[1]);
  assert.ok(await eventually(() => !isAlive(gen1), 15_000), 'the old fcgi-pm exited');
  const mark = ss.count(/^request started/);
  await eventually(() => ss.count(/^request started/) >= mark + 3, 10_000);
  const result = await loop.stop();
  assert.deepEqual(result.failures, [], `${result.failures.length} failed requests`);
  assert.ok(result.answered > 6, `only ${result.answered} answered`);
  assert.ok(ss.lines.some((l) => l === `FastCGI: manager (pid ${gen2}): ready: 2 servers accepting`), 'the new generation is an fcgi-pm manager');
  ss.kill('SIGTERM');
  assert.equal((await ss.exited).code, 0);
});

const spawnFcgiSkip = skipWithout(have('spawn-fcgi'), 'spawn-fcgi is not installed (Debian package spawn-fcgi)');
test('spawn-fcgi -s sock -- fcgi-pm app.js: the pool serves on the socket inherited on fd 0', { skip: spawnFcgiSkip }, async () => {
  const sock = path.join(tempDir(), 'spawned.sock');
  const pm = startNode({ command: 'spawn-fcgi', args: ['-n', '-s', sock, '--', process.execPath, BIN, '-n', '2', 'app.js'], cwd: APP_DIR });
  await pm.waitFor(/ready: 2 servers accepting/, 20_000);
  assert.ok(pm.lines.some((l) => /^FastCGI: manager \(pid \d+\): listening on fd 0$/.test(l)), pm.lines.join('\n'));
  const workers = livePids(pm);
  const res = await fcgiRequest(sock);
  assert.ok(res.ok, res.stdout + res.stderr);
  assert.ok(workers.includes(pidOf(res)));
  pm.kill('SIGTERM'); // spawn-fcgi -n execs: its pid is fcgi-pm's
  assert.equal((await pm.exited).code, 0);
});

const systemdSkip = skipWithout(have('systemd-socket-activate'), 'systemd-socket-activate is not installed (Debian package systemd)');
test('systemd socket activation: systemd-socket-activate -l sock fcgi-pm app.js serves on LISTEN_FDS', { skip: systemdSkip }, async () => {
  const sock = path.join(tempDir(), 'activated.sock');
  const pm = startNode({ command: 'systemd-socket-activate', args: ['-l', sock, '--', process.execPath, BIN, '-n', '2', 'app.js'], cwd: APP_DIR });
  await pm.waitFor(/Listening on .* as 3\./);
  const first = await fcgiRequest(sock); // starts fcgi-pm; waits in the backlog until a worker accepts
  assert.ok(first.ok, first.stdout + first.stderr);
  await pm.waitFor(new RegExp(`^FastCGI: manager \\(pid ${pm.pid}\\): listening on fd 3$`));
  const workers = livePids(pm);
  assert.equal(workers.length, 2);
  assert.ok(workers.includes(pidOf(first)));
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});
