'use strict';
// Logging: log_file and log_timestamps (the manager's lines, the workers' lines and the app's own
// stdout and stderr, each whole and stamped), USR1 after a logrotate-style rename, access_log with
// PHP-FPM's tokens, a logger object, and bad values refused before anything forks. Pure parts first.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { tempDir, startNode, livePids, fcgiRequest, eventually, sleep, httpGet } = require('../helpers/helpers');

const { compileAccessFormat, DEFAULT_ACCESS_FORMAT } = require('../../dist/log/access-format');
const { compileStrftime } = require('../../dist/log/strftime');
const { LineSplitter } = require('../../dist/log/line-splitter');
const { validateParams, checkParamCombinations, likelyMeant } = require('../../dist/params');

const LOG_APP = path.join(__dirname, '..', 'fixtures', 'log-app.js');
const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

// ---- Pure parts -------------------------------------------------------------------------------

function entry(overrides = {}) {
  const params = {
    REMOTE_ADDR: '192.0.2.7',
    REMOTE_USER: 'alice',
    CONTENT_LENGTH: '5',
    SCRIPT_FILENAME: '/srv/app.js',
    HTTP_X_TEST: 'yes',
    ...overrides.params,
  };
  return {
    param: (name) => params[name],
    responseHeader: (name) => ({ 'content-type': 'text/plain' })[name.toLowerCase()],
    method: 'POST',
    uri: '/path/x?a=1&b=2',
    remoteAddr: params.REMOTE_ADDR,
    status: 201,
    startedAtMs: new Date(2026, 11, 1, 9, 5, 7, 250).getTime(),
    endedAtMs: new Date(2026, 11, 1, 9, 5, 8, 900).getTime(),
    durationMs: 1234.5678,
    pid: 4321,
    ppid: 1234,
    pool: 'node-fcgi-pm',
    ...overrides,
  };
}

test("access_format: PHP-FPM's tokens", () => {
  const line = compileAccessFormat('%R|%u|%m|%r|%Q|%q|%s|%l|%p|%P|%{Content-Type}o|%{HTTP_X_TEST}e|%f|%n|%d|%{milli}d|%{micro}d|%%')(entry());
  assert.equal(line, '192.0.2.7|alice|POST|/path/x|?|a=1&b=2|201|5|4321|1234|text/plain|yes|/srv/app.js|node-fcgi-pm|1.235|1234.568|1234568|%');
  const date = compileAccessFormat('%t %{%Y-%m-%d %H:%M:%S}T')(entry());
  assert.match(date, /^01\/Dec\/2026:09:05:07 [+-]\d{4} 2026-12-01 09:05:08$/);
  assert.equal(DEFAULT_ACCESS_FORMAT, '%R - %u %t "%m %r" %s');
  // Formatted once per second: a later second gets its own time, the same second the same text.
  const stamp = compileAccessFormat('%{%H:%M:%S}T');
  const at = entry().endedAtMs;
  assert.equal(stamp(entry({ endedAtMs: at })), '09:05:08');
  assert.equal(stamp(entry({ endedAtMs: at + 50 })), '09:05:08');
  assert.equal(stamp(entry({ endedAtMs: at + 200 })), '09:05:09');
  assert.equal(stamp(entry({ endedAtMs: at - 1000 })), '09:05:07');
});

test('access_format: missing values, no query, and a newline in the URI cannot forge a line', () => {
  const bare = entry({ params: { REMOTE_ADDR: undefined, REMOTE_USER: undefined, CONTENT_LENGTH: undefined, SCRIPT_FILENAME: undefined }, uri: '/a\nFAKE 200', remoteAddr: undefined });
  assert.equal(compileAccessFormat('%R|%u|%l|%f|%Q%q|%r|%{X-None}o|%{NONE}e')(bare), '-||0|-||/a\\nFAKE 200|-|-');
});

test('access_format: tokens it cannot write are refused, naming them', () => {
  assert.throws(() => compileAccessFormat('%C'), /%C \(per-request CPU\) is not available/);
  assert.throws(() => compileAccessFormat('%{kilo}M'), /%M \(per-request memory\) is not available/);
  assert.throws(() => compileAccessFormat('%Z'), /unknown token %Z/);
  assert.throws(() => compileAccessFormat('%e'), /%e needs a name in braces/);
  assert.throws(() => compileAccessFormat('%{hours}d'), /unit must be seconds, milliseconds/);
  assert.throws(() => compileAccessFormat('%{%Q}t'), /unknown time conversion %Q/);
  assert.throws(() => compileAccessFormat('50%'), /ends in the middle of a token/);
});

test('strftime: the conversions access logs use', () => {
  const d = new Date(2026, 0, 5, 14, 3, 9);
  assert.equal(compileStrftime('%a %A %b %B %d %e %H %I %j %m %M %p %S %y %Y %F %T %R %%')(d), 'Mon Monday Jan January 05  5 14 02 005 01 03 PM 09 26 2026 2026-01-05 14:03:09 14:03 %');
  assert.equal(compileStrftime('%s')(d), String(Math.floor(d.getTime() / 1000)));
  assert.match(compileStrftime('%z')(d), /^[+-]\d{4}$/);
});

test('LineSplitter: whole lines from any chunking, a long line cut, the rest at the end, UTF-8 kept', () => {
  const s = new LineSplitter(10);
  assert.deepEqual(s.push('ab'), []);
  assert.deepEqual(s.push('c\nde\nf'), ['abc', 'de']);
  assert.deepEqual(s.push('0123456789012'), ['f012345678']);
  assert.equal(s.end(), '9012');
  assert.equal(s.end(), undefined);
  const u = new LineSplitter();
  const bytes = Buffer.from('é\n');
  assert.deepEqual(u.push(bytes.subarray(0, 1)), []);
  assert.deepEqual(u.push(bytes.subarray(1)), ['é']);
});

test('log parameters: validated, combinations refused, other names suggested', () => {
  assert.deepEqual(validateParams({ log_timestamps: 'yes', log_file: '/tmp/x.log', access_log: '', access_format: '%R %s' }), {
    log_timestamps: true,
    log_file: '/tmp/x.log',
    access_log: undefined,
    access_format: '%R %s',
  });
  assert.throws(() => validateParams({ access_format: '%C' }), /^TypeError: access_format: %C/);
  assert.throws(() => validateParams({ access_format: '' }), /access_format must be a non-empty string/);
  assert.throws(() => validateParams({ log_timestamps: 'maybe' }), /log_timestamps must be true or false/);
  assert.throws(() => validateParams({ logger: { info() {}, warn() {} } }), /logger must be an object with info, warn and error methods .* without error/);
  assert.throws(() => validateParams({ logger: 'pino' }), /logger must be an object/);
  assert.equal(validateParams({ logger: console }).logger, console);
  assert.throws(() => checkParamCombinations({ logger: console, log_file: '/x' }), /logger and log_file exclude each other/);
  assert.throws(() => checkParamCombinations({ logger: console, log_timestamps: true }), /logger and log_timestamps exclude each other/);
  assert.doesNotThrow(() => checkParamCombinations({ log_file: '/x', log_timestamps: true }));
  assert.equal(likelyMeant('error_log'), 'log_file');
  assert.equal(likelyMeant('accesslog'), 'access_log');
});

// ---- Real processes ---------------------------------------------------------------------------

/** Polls a file until a line matches; resolves with the line. */
async function waitForFileLine(file, regex, timeoutMs = 15_000) {
  let found;
  await eventually(() => {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    found = text.split('\n').find((l) => regex.test(l));
    return found !== undefined;
  }, timeoutMs);
  if (found === undefined) throw new Error(`${file}: no line ${regex} within ${timeoutMs} ms:\n${fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '(no file)'}`);
  return found;
}

/** One request with cgi-fcgi and the given FastCGI params (and body). */
const cgiFcgi = (address, params, body) => fcgiRequest(address, { params: { REQUEST_METHOD: 'GET', ...params }, body: body ?? '' });

/** Requests ?line=N for N in [from, to], `concurrency` at a time; stdout for odd N, stderr for even. */
async function lineRequests(address, from, to, concurrency = 4) {
  let next = from;
  const failures = [];
  const loop = async () => {
    while (next <= to) {
      const n = next++;
      const query = `line=${n}${n % 2 === 0 ? '&stream=stderr' : ''}`;
      const res = await cgiFcgi(address, { QUERY_STRING: query, REQUEST_URI: `/?${query}` });
      if (res.code !== 0 || !/^Status: 200/m.test(res.stdout)) failures.push(n);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return failures;
}

const readLines = (file) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');

test('log_file with log_timestamps: every line whole and stamped; USR1 after a rename moves new lines to the new file and loses none', async () => {
  const dir = tempDir();
  const log = path.join(dir, 'pool.log');
  const access = path.join(dir, 'access.log');
  const address = path.join(dir, 'fcgi.sock');
  const pm = startNode({
    script: LOG_APP,
    env: {
      PM_N_PROCESSES: '2',
      FCGI_LISTEN: address,
      PM_LOG_FILE: log,
      PM_LOG_TIMESTAMPS: '1',
      PM_ACCESS_LOG: access,
      PM_ACCESS_FORMAT: '%R "%m %r%Q%q" %s %p',
    },
  });
  await waitForFileLine(log, /ready: 2 servers accepting/);
  const workers = readLines(log).map((l) => /server \(pid (\d+)\) started/.exec(l)?.[1]).filter(Boolean).map(Number);
  assert.equal(workers.length, 2);

  assert.deepEqual(await lineRequests(address, 1, 80), [], 'no request failed before the rotation');
  fs.renameSync(log, `${log}.1`);
  fs.renameSync(access, `${access}.1`);
  pm.kill('SIGUSR1');
  await waitForFileLine(log, /received signal USR1: logs reopened/);
  await sleep(300); // the workers reopen the access log on the USR1 the manager forwards
  // Node's own USR1 action would start the inspector on 127.0.0.1:9229 in each process.
  const inspector = await new Promise((resolve) => {
    const probe = net.connect(9229, '127.0.0.1');
    probe.on('connect', () => (probe.destroy(), resolve('listening')));
    probe.on('error', (err) => resolve(err.code));
  });
  assert.equal(inspector, 'ECONNREFUSED', 'USR1 started no inspector');
  assert.deepEqual(await lineRequests(address, 81, 160), [], 'no request failed after the rotation');
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);

  assert.deepEqual(pm.lines, [], 'nothing was written on the manager\'s stderr');
  const before = readLines(`${log}.1`);
  const after = readLines(log);
  for (const line of [...before, ...after]) assert.match(line, new RegExp(`^${ISO} `), 'every line is stamped');
  const whole = new RegExp(`^${ISO} line (\\d+) pid (\\d+) begin x{3000} end$`);
  const seen = (lines) => lines.filter((l) => / line \d+ pid /.test(l)).map((l) => {
    const m = whole.exec(l);
    assert.ok(m, `a whole line: ${l.slice(0, 60)}...${l.slice(-200)} (${l.length} chars)`);
    assert.ok(workers.includes(Number(m[2])), 'written by a worker');
    return Number(m[1]);
  });
  const oldNumbers = seen(before);
  const newNumbers = seen(after);
  assert.deepEqual([...oldNumbers, ...newNumbers].sort((a, b) => a - b), Array.from({ length: 160 }, (_, i) => i + 1), 'each line once, none lost');
  assert.ok(oldNumbers.every((n) => n <= 80), 'the old file holds only lines from before the rotation');
  assert.ok(newNumbers.every((n) => n > 80) && newNumbers.length === 80, 'every line after it is in the new file');
  const servedBy = new Set(newNumbers.length ? after.filter((l) => whole.test(l)).map((l) => whole.exec(l)[2]) : []);
  assert.equal(servedBy.size, 2, 'both workers wrote lines');
  assert.ok(after.some((l) => /FastCGI: server \(pid \d+\): safe exit after SIGTERM/.test(l)), "the workers' last lines are there");
  assert.match(after.at(-1), /FastCGI: manager \(pid \d+\): dying: safe exit from signal TERM$/);

  const accessOld = readLines(`${access}.1`);
  const accessNew = readLines(access);
  const numbered = (lines) => lines.map((l) => {
    const m = /^- "GET \/\?line=(\d+)(?:&stream=stderr)?" 200 (\d+)$/.exec(l);
    assert.ok(m, `an access line: ${l}`);
    assert.ok(workers.includes(Number(m[2])), '%p is the worker');
    return Number(m[1]);
  });
  assert.deepEqual([...numbered(accessOld), ...numbered(accessNew)].sort((a, b) => a - b), Array.from({ length: 160 }, (_, i) => i + 1));
  assert.ok(numbered(accessNew).every((n) => n > 80) && accessNew.length === 80, 'the access lines after the rotation are in the new file');
});

test('access_log: the fields of a request, through the FastCGI params', async () => {
  const dir = tempDir();
  const access = path.join(dir, 'access.log');
  const address = path.join(dir, 'fcgi.sock');
  const format = '%R|%u|%m|%r|%Q|%q|%s|%l|%p|%P|%{Content-Type}o|%{HTTP_X_TEST}e|%f|%n|%{milli}d|%{%Y-%m-%dT%H:%M:%S%z}t';
  const pm = startNode({ script: LOG_APP, env: { PM_N_PROCESSES: '1', FCGI_LISTEN: address, PM_ACCESS_LOG: access, PM_ACCESS_FORMAT: format } });
  await pm.waitFor(/ready: 1 server accepting/);
  const [worker] = livePids(pm);
  const posted = await cgiFcgi(
    address,
    { REQUEST_METHOD: 'POST', REQUEST_URI: '/form?a=1', QUERY_STRING: 'a=1', CONTENT_LENGTH: '5', REMOTE_ADDR: '198.51.100.9', REMOTE_USER: 'bob', HTTP_X_TEST: 'on', SCRIPT_FILENAME: '/srv/form.js' },
    'hello',
  );
  assert.match(posted.stdout, /^Status: 200/m);
  const failed = await cgiFcgi(address, { REQUEST_URI: '/?throw', QUERY_STRING: 'throw', REMOTE_ADDR: '::1' });
  assert.match(failed.stdout, /^Status: 500/m);
  const lines = await eventually(() => (fs.existsSync(access) && readLines(access).length >= 2 ? readLines(access) : false));
  assert.ok(lines, 'two access lines');
  const [first, second] = lines.map((l) => l.split('|'));
  assert.deepEqual(first.slice(0, 14), ['198.51.100.9', 'bob', 'POST', '/form', '?', 'a=1', '200', '5', String(worker), String(pm.pid), 'text/plain', 'on', '/srv/form.js', 'node-fcgi-pm']);
  const ms = Number(first[14]);
  assert.ok(ms >= 0 && ms < 60_000, `%{milli}d is a duration in ms: ${first[14]}`);
  const when = Date.parse(first[15].replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
  assert.ok(Math.abs(Date.now() - when) < 120_000, `%t is the time the request came: ${first[15]}`);
  assert.deepEqual(second.slice(0, 9), ['::1', '', 'GET', '/', '?', 'throw', '500', '0', String(worker)]);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('the access log, the status page and the error line show the URI the web server sent, not the one the app rewrote', async () => {
  const dir = tempDir();
  const access = path.join(dir, 'access.log');
  const address = path.join(dir, 'fcgi.sock');
  const statusSocket = path.join(dir, 'status.sock');
  const pm = startNode({ script: LOG_APP, env: { PM_N_PROCESSES: '1', FCGI_LISTEN: address, PM_ACCESS_LOG: access, PM_ACCESS_FORMAT: '%m %r%Q%q %s', PM_STATUS_PATH: '/status', PM_STATUS_LISTEN: statusSocket } });
  await pm.waitFor(/ready: 1 server accepting/);
  await pm.waitFor(/\(status_listen\)/);
  const waiting = cgiFcgi(address, { REQUEST_URI: '/api/v1/items/7?rewrite&wait', QUERY_STRING: 'rewrite&wait' });
  await sleep(400);
  const status = JSON.parse((await httpGet(statusSocket, '/status?json&full')).body);
  assert.ok(status.processes.some((p) => p['request uri'] === '/api/v1/items/7?rewrite&wait'), JSON.stringify(status.processes));
  assert.match((await waiting).stdout, /^Status: 200/m);
  await cgiFcgi(address, { REQUEST_URI: '/api/v1/boom?rewrite&throw', QUERY_STRING: 'rewrite&throw' });
  assert.match(await pm.waitFor(/failed \(answered 500\)/), /request "GET \/api\/v1\/boom\?rewrite&throw" failed/);
  assert.ok(await eventually(() => fs.existsSync(access) && readLines(access).length >= 2), 'two access lines');
  assert.deepEqual(readLines(access), ['GET /api/v1/items/7?rewrite&wait 200', 'GET /api/v1/boom?rewrite&throw 500']);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('a logger gets every line at its level (info, warn, error), and nothing goes to stderr', async () => {
  const dir = tempDir();
  const address = path.join(dir, 'fcgi.sock');
  const pm = startNode({ script: LOG_APP, env: { PM_N_PROCESSES: '1', FCGI_LISTEN: address, PM_TEST_LOGGER: '1', PM_PID_FILE: path.join(dir, 'missing', 'pm.pid') } });
  const ready = await eventually(() => /INFO FastCGI: manager \(pid \d+\): ready: 1 server accepting/.test(pm.stdout), 15_000);
  assert.ok(ready, pm.stdout);
  const failed = await cgiFcgi(address, { REQUEST_URI: '/?throw', QUERY_STRING: 'throw' });
  assert.match(failed.stdout, /^Status: 500/m);
  assert.ok(await eventually(() => /ERROR FastCGI: server \(pid \d+\): request "GET \/\?throw" failed/.test(pm.stdout)), pm.stdout);
  pm.kill('SIGTERM');
  await pm.exited;
  assert.match(pm.stdout, /^INFO FastCGI: manager \(pid \d+\): initialized$/m);
  assert.match(pm.stdout, /^INFO FastCGI: server \(pid \d+\): initialized$/m);
  assert.match(pm.stdout, /^WARN FastCGI: manager \(pid \d+\): open: .*missing\/pm\.pid: ENOENT/m);
  assert.match(pm.stdout, /^WARN FastCGI: manager \(pid \d+\): dying: safe exit from signal TERM$/m);
  assert.deepEqual(pm.lines.filter((l) => /FastCGI:/.test(l)), [], 'no library line on stderr');
});

test('bad log parameters are refused with one line before anything forks', async () => {
  const dir = tempDir();
  const cases = [
    [{ PM_ACCESS_FORMAT: '%C' }, /access_format: %C \(per-request CPU\) is not available/],
    [{ PM_ACCESS_FORMAT: '%{%Q}t' }, /access_format: unknown time conversion %Q/],
    [{ PM_LOG_FILE: path.join(dir, 'no', 'such', 'pool.log') }, /log_file .*\/no\/such\/pool\.log: ENOENT \(no such file or directory\)/],
    [{ PM_ACCESS_LOG: dir }, /access_log .*: EISDIR/],
    [{ PM_TEST_LOGGER: '1', PM_LOG_FILE: path.join(dir, 'x.log') }, /logger and log_file exclude each other/],
    [{ PM_LOG_TIMESTAMPS: 'maybe' }, /log_timestamps must be true or false/],
  ];
  for (const [env, expected] of cases) {
    const address = path.join(dir, 'never.sock');
    const pm = startNode({ script: LOG_APP, env: { PM_N_PROCESSES: '2', FCGI_LISTEN: address, ...env } });
    const { code } = await pm.exited;
    assert.equal(code, 2, `${JSON.stringify(env)}: exit 2`);
    assert.equal(pm.lines.length, 1, `one line: ${pm.lines.join('\n')}`);
    assert.match(pm.lines[0], expected);
    assert.ok(!fs.existsSync(address), 'no socket was bound');
    assert.ok(!/server \(pid/.test(pm.stdout), 'nothing forked');
  }
});

test('log_format json: every line the pool writes is one JSON object with time, level, pid, role and msg and the event\'s fields; the app\'s own lines are wrapped with their worker\'s pid', async () => {
  const { startCli } = require('../helpers/entry-points');
  assert.throws(() => validateParams({ log_format: 'yaml' }), /log_format must be 'text' or 'json', got "yaml"/);
  const pool = await startCli({ n: 2, flags: ['--log-format', 'json'] });
  assert.equal((await fcgiRequest(pool.address, { query: 'hello=1' })).ok, true);
  pool.kill('SIGTERM');
  assert.equal((await pool.exited).code, 0);
  const entries = pool.lines.filter((line) => line !== '').map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      assert.fail(`not a JSON line: ${line}`);
    }
  });
  assert.ok(entries.length >= 12, `${entries.length} lines`);
  for (const e of entries) {
    assert.deepEqual(Object.keys(e).slice(0, 5), ['time', 'level', 'pid', 'role', 'msg'], JSON.stringify(e));
    assert.match(e.time, new RegExp(`^${ISO}$`));
    assert.ok(['info', 'warn', 'error'].includes(e.level));
    assert.ok(['manager', 'server', 'app'].includes(e.role), e.role);
  }
  const manager = entries.filter((e) => e.role === 'manager');
  assert.ok(manager.every((e) => e.pid === pool.pid));
  const started = manager.filter((e) => /^server \(pid \d+\) started$/.test(e.msg));
  assert.equal(started.length, 2);
  for (const e of started) assert.deepEqual([typeof e.worker, e.generation, typeof e.slot], ['number', 1, 'number']);
  const workers = started.map((e) => e.worker);
  const exited = manager.filter((e) => /exited with status 0$/.test(e.msg));
  assert.deepEqual(exited.map((e) => [e.exitCode, e.signal]), [[0, null], [0, null]]);
  assert.deepEqual(exited.map((e) => e.worker).sort(), [...workers].sort());
  assert.deepEqual(manager.find((e) => e.msg.startsWith('ready:')), { ...manager.find((e) => e.msg.startsWith('ready:')), msg: 'ready: 2 servers accepting', generation: 1 });
  // The workers' own lifecycle lines, written in JSON by each worker, pass through as they are.
  const servers = entries.filter((e) => e.role === 'server');
  assert.deepEqual([...new Set(servers.filter((e) => e.msg === 'initialized').map((e) => e.pid))].sort(), [...workers].sort());
  assert.equal(servers.filter((e) => e.msg === 'safe exit after SIGTERM').length, 2);
  // The app's own stderr lines, wrapped.
  const app = entries.filter((e) => e.role === 'app');
  const request = app.find((e) => e.msg.startsWith('request started: /?hello=1'));
  assert.ok(request, JSON.stringify(app));
  assert.equal(request.stream, 'stderr');
  assert.ok(workers.includes(request.pid));
  assert.equal(app.filter((e) => e.msg.startsWith('cli-app: loaded in pid')).length, 2);
});
