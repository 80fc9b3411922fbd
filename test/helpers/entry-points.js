'use strict';
// The two ways a pool is started, for the tests of what both must do alike: the library
// (examples/hello.js, a ProcManager in the app's code) and fcgi-pm running an unchanged node-fastcgi
// app (test/fixtures/cli-app, with its own copy of node-fastcgi).

const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, tempDir, startNode, startHello } = require('./helpers');

const BIN = path.join(ROOT, 'bin', 'fcgi-pm.js');
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'cli-app');

/**
 * A copy of the fixture app in a temporary directory, with its own node_modules/node-fastcgi (and
 * its dependencies) copied from the repository's: nothing above it resolves to the library's copy.
 */
function appDir() {
  const dir = tempDir();
  fs.cpSync(FIXTURE, dir, { recursive: true });
  for (const name of ['node-fastcgi', 'fastcgi-stream', 'bufferlist']) {
    fs.cpSync(path.join(ROOT, 'node_modules', name), path.join(dir, 'node_modules', name), { recursive: true });
  }
  return dir;
}
let appDirectory;
/** The fixture app's copy, made once per test file. */
const APP_DIR = () => (appDirectory ??= appDir());

/** `fcgi-pm -n N --listen <fresh socket> flags... app args...`, run in the app's directory (n: null, no -n). */
async function startCli({ n = 2, app = 'app.js', appArgs = [], flags = [], env = {}, waitReady = true, listen } = {}) {
  const address = listen ?? path.join(tempDir(), 'fcgi.sock');
  const proc = startNode({ script: BIN, args: [...(n === null ? [] : ['-n', String(n)]), '--listen', address, ...flags, app, ...appArgs], env, cwd: APP_DIR() });
  proc.address = address;
  if (waitReady) await proc.waitFor(/ready: \d+ servers? accepting/, 20_000);
  return proc;
}

/** Runs `fcgi-pm ARGS` to its end, in the app's directory (as `uid`/`gid` if given): { code, stdout, stderr }. */
function runFcgiPm(args, { cwd = APP_DIR(), timeoutMs = 30_000, env = {}, uid, gid } = {}) {
  return new Promise((resolve) => {
    const options = { cwd, timeout: timeoutMs, env: { ...process.env, ...env }, ...(uid === undefined ? {} : { uid, gid }) };
    execFile(process.execPath, [BIN, ...args], options, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/**
 * Each starts a pool of `n` workers whose app logs `request started: <url> (pid <pid>)` for each
 * request and answers `pid=<pid>`, with `?sleep=S`; `pidFile`, `dieTimeout` and `listen` are the
 * parameters, given as each entry point takes them.
 */
const ENTRY_POINTS = [
  {
    name: 'the library',
    start: ({ n, pidFile, dieTimeout, listen, waitReady } = {}) =>
      startHello({
        n,
        waitReady,
        env: {
          PM_LOG_REQUESTS: '1',
          ...(pidFile === undefined ? {} : { PM_PID_FILE: pidFile }),
          ...(dieTimeout === undefined ? {} : { PM_DIE_TIMEOUT: String(dieTimeout) }),
          ...(listen === undefined ? {} : { FCGI_LISTEN: listen }),
        },
      }),
  },
  {
    name: 'fcgi-pm',
    start: ({ n, pidFile, dieTimeout, listen, waitReady } = {}) =>
      startCli({
        n,
        waitReady,
        listen,
        flags: [...(pidFile === undefined ? [] : ['--pid-file', pidFile]), ...(dieTimeout === undefined ? [] : ['--die-timeout', String(dieTimeout)])],
      }),
  },
];

module.exports = { BIN, APP_DIR, startCli, runFcgiPm, ENTRY_POINTS };
