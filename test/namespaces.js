'use strict';
// A process as PID 1 of namespaces of its own, for the tests of what runs a pool: systemd
// (test/systemd-unit.test.js) and a Kubernetes pod (test/container.test.js). Mounts made by `setup`
// (a shell script run inside first) are seen only there; with `net`, the namespaces have their own
// loopback, so whatever they bind (0.0.0.0:8080 in a manifest) binds nothing of the machine's.

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { eventually, tempDir, childrenOf } = require('./helpers');

const ROOT = path.join(__dirname, '..');

/** Every process below `pid` (host pids): { pid, state, comm }. */
function descendants(pid) {
  return childrenOf(pid).flatMap((child) => [child, ...descendants(child.pid)]);
}

/**
 * Starts `command` as PID 1 of new PID, mount, UTS and IPC namespaces (and a network namespace with
 * its loopback up, with `net`). Resolves to { proc, pid1 (its host pid), exited, output() }.
 * `share` (a namespace PID 1's host pid) joins that one's network namespace instead, as the
 * containers of one pod share theirs.
 */
async function startPid1({ command, args = [], setup = '', net = false, share, env = {} }) {
  const namespaces = ['--pid', '--fork', '--mount-proc', '--mount', '--uts', '--ipc', ...(net ? ['--net'] : [])];
  const script = `set -e\n${net ? 'ip link set lo up\n' : ''}${setup}\nexec "$@"`;
  const argv = ['unshare', ...namespaces, '--', '/bin/sh', '-c', script, 'sh', command, ...args];
  const [file, ...rest] = share ? ['nsenter', `--net=/proc/${share}/ns/net`, '--', ...argv] : argv;
  const proc = spawn(file, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout.on('data', (d) => (text += d));
  proc.stderr.on('data', (d) => (text += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  // unshare --fork: its child is PID 1 (below nsenter, when sharing).
  let pid1;
  await eventually(() => {
    const tree = descendants(proc.pid);
    pid1 = tree.find((p) => p.comm !== 'unshare' && p.comm !== 'nsenter')?.pid;
    return pid1 !== undefined || proc.exitCode !== null;
  }, 10_000);
  if (pid1 === undefined) throw new Error(`no PID 1 started: ${text}`);
  return { proc, pid1, exited, output: () => text };
}

/** Runs a command inside the namespaces of `pid1` (mount, PID, network). */
function runInside(pid1, command, args = [], { timeoutMs = 60_000, env } = {}) {
  return new Promise((resolve) => {
    execFile('nsenter', ['-t', String(pid1), '-m', '-p', '-n', '--', command, ...args], { timeout: timeoutMs, encoding: 'utf8', env: env ?? process.env },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

/** Kills every process of the namespaces (SIGKILL to their PID 1 ends them all). */
function killAll(started) {
  if (!started) return;
  try {
    process.kill(started.pid1, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * The unchanged node-fastcgi test app (test/fixtures/cli-app) as it is deployed at /srv/app, with this
 * checkout installed in its node_modules as /srv/fcgi-procmanager (see srvMounts).
 */
function makeSrvApp() {
  const dir = tempDir();
  fs.cpSync(path.join(__dirname, 'fixtures', 'cli-app'), dir, { recursive: true });
  fs.mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  fs.symlinkSync('/srv/fcgi-procmanager', path.join(dir, 'node_modules', 'fcgi-procmanager'));
  fs.symlinkSync('/srv/fcgi-procmanager/node_modules/node-fastcgi', path.join(dir, 'node_modules', 'node-fastcgi'));
  fs.symlinkSync('../fcgi-procmanager/bin/fcgi-pm.js', path.join(dir, 'node_modules', '.bin', 'fcgi-pm'));
  fs.chmodSync(dir, 0o755); // the workers' user reads it
  return dir;
}

/** Setup lines that put `app` at /srv/app and this checkout at /srv/fcgi-procmanager (a /tmp may be private there). */
function srvMounts(app) {
  return ['mount -t tmpfs tmpfs /srv', 'mkdir /srv/app /srv/fcgi-procmanager', `mount --bind ${app} /srv/app`, `mount --bind ${ROOT} /srv/fcgi-procmanager`];
}

module.exports = { startPid1, runInside, killAll, descendants, makeSrvApp, srvMounts };
