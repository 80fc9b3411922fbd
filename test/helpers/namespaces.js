'use strict';
// A process as PID 1 of namespaces of its own, for the tests of what runs a pool: systemd
// (test/peers/systemd-unit.test.js) and a Kubernetes pod (test/integration/container.test.js). Mounts made by `setup`
// (a shell script run inside first) are seen only there; with `net`, the namespaces have their own
// loopback, so whatever they bind (0.0.0.0:8080 in a manifest) binds nothing of the machine's.

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { eventually, tempDir, childrenOf } = require('./helpers');

const ROOT = path.join(__dirname, '..', '..');

/** Every process below `pid` (host pids): { pid, state, comm }. */
function descendants(pid) {
  return childrenOf(pid).flatMap((child) => [child, ...descendants(child.pid)]);
}

/**
 * A cgroup of its own below this process's, in the cgroup2 hierarchy, for namespaces that get a
 * cgroup namespace (a systemd inside makes its slices there, not in this machine's tree). remove()
 * takes it down once its processes are gone.
 */
function makeCgroup() {
  const mount = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[f.indexOf('-') + 1] === 'cgroup2')?.[4];
  const own = /^0::(.*)$/m.exec(fs.readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
  if (!mount || own === undefined) throw new Error('no cgroup2 hierarchy mounted: a cgroup namespace needs one');
  const dir = path.join(mount, own, `fcgi-pm-test-${process.pid}-${++cgroups}`);
  fs.mkdirSync(dir);
  const remove = async () => {
    const below = (d) => fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => [...below(path.join(d, e.name)), path.join(d, e.name)]);
    // The kernel empties a cgroup a moment after its last process has exited.
    await eventually(() => {
      try {
        for (const d of [...below(dir), dir]) fs.rmdirSync(d);
        return true;
      } catch (err) {
        return err.code === 'ENOENT';
      }
    }, 10_000);
  };
  return { dir, remove };
}
let cgroups = 0;

/**
 * Starts `command` as PID 1 of new PID, mount, UTS and IPC namespaces (and a network namespace with
 * its loopback up, with `net`; a cgroup namespace in a cgroup of its own, with its cgroup2 mounted
 * at /sys/fs/cgroup, with `cgroup`). Resolves to { proc, pid1 (its host pid), exited, output() }.
 * `share` (a namespace PID 1's host pid) joins that one's network namespace instead, as the
 * containers of one pod share theirs. Nothing outlives this process: unshare dies with it
 * (setpriv --pdeathsig), and PID 1 with unshare (--kill-child), and every process of the
 * namespaces with PID 1. Stop them with stopAll().
 */
async function startPid1({ command, args = [], setup = '', net = false, share, cgroup = false, env = {} }) {
  const group = cgroup ? makeCgroup() : undefined;
  const namespaces = ['--pid', '--kill-child', '--mount-proc', '--mount', '--uts', '--ipc', ...(net ? ['--net'] : []), ...(group ? ['--cgroup'] : [])];
  const mountCgroup = group ? 'umount -R /sys/fs/cgroup 2>/dev/null || true\nmount -t cgroup2 cgroup2 /sys/fs/cgroup\n' : '';
  const script = `set -e\n${net ? 'ip link set lo up\n' : ''}${mountCgroup}${setup}\nexec "$@"`;
  let argv = ['setpriv', '--pdeathsig', 'KILL', ...(share ? ['nsenter', `--net=/proc/${share}/ns/net`, '--'] : []),
    'unshare', ...namespaces, '--', '/bin/sh', '-c', script, 'sh', command, ...args];
  // Into the cgroup first: unshare --cgroup roots the new namespace at the cgroup it is in.
  if (group) argv = ['/bin/sh', '-c', 'echo $$ >"$FCGI_PM_TEST_CGROUP/cgroup.procs" && exec "$@"', 'sh', ...argv];
  const proc = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env, FCGI_PM_TEST_CGROUP: group?.dir ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout.on('data', (d) => (text += d));
  proc.stderr.on('data', (d) => (text += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const started = { proc, exited, group, output: () => text };
  // unshare forks PID 1: the first process below it.
  await eventually(() => {
    started.pid1 = childrenOf(proc.pid)[0]?.pid;
    return started.pid1 !== undefined || proc.exitCode !== null;
  }, 10_000);
  if (started.pid1 === undefined) {
    await stopAll(started);
    throw new Error(`no PID 1 started: ${text}`);
  }
  return started;
}

/** Runs a command inside the namespaces of `pid1` (mount, PID, network). */
function runInside(pid1, command, args = [], { timeoutMs = 60_000, env } = {}) {
  return new Promise((resolve) => {
    execFile('nsenter', ['-t', String(pid1), '-m', '-p', '-n', '--', command, ...args], { timeout: timeoutMs, encoding: 'utf8', env: env ?? process.env },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

/**
 * Ends the namespaces (SIGKILL to unshare, which is still this process's child: --kill-child takes
 * PID 1, and every process of them, with it), then removes their cgroup.
 */
async function stopAll(started) {
  if (!started) return;
  if (started.proc.exitCode === null && started.proc.signalCode === null) started.proc.kill('SIGKILL');
  await started.exited;
  await started.group?.remove();
}

/**
 * The unchanged node-fastcgi test app (test/fixtures/cli-app) as it is deployed at /srv/app, with this
 * checkout installed in its node_modules as /srv/fcgi-procmanager (see srvMounts).
 */
function makeSrvApp() {
  const dir = tempDir();
  fs.cpSync(path.join(__dirname, '..', 'fixtures', 'cli-app'), dir, { recursive: true });
  fs.mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  fs.symlinkSync('/srv/fcgi-procmanager', path.join(dir, 'node_modules', 'fcgi-procmanager'));
  fs.symlinkSync('/srv/fcgi-procmanager/node_modules/node-fastcgi', path.join(dir, 'node_modules', 'node-fastcgi'));
  fs.symlinkSync('../fcgi-procmanager/bin/fcgi-pm.js', path.join(dir, 'node_modules', '.bin', 'fcgi-pm'));
  fs.chmodSync(dir, 0o755); // the workers' user reads it
  return dir;
}

/**
 * Setup lines that put `app` at /srv/app and this checkout at /srv/fcgi-procmanager (a /tmp may be
 * private there), and the Node under test first on systemd's PATH (/usr/local/bin, before the
 * machine's /usr/bin/node), so that `#!/usr/bin/env node` finds it.
 */
function srvMounts(app) {
  return [
    'mount -t tmpfs tmpfs /srv',
    'mkdir /srv/app /srv/fcgi-procmanager',
    `mount --bind ${app} /srv/app`,
    `mount --bind ${ROOT} /srv/fcgi-procmanager`,
    'mount -t tmpfs tmpfs /usr/local/bin',
    `ln -s ${fs.realpathSync(process.execPath)} /usr/local/bin/node`,
  ];
}

module.exports = { startPid1, runInside, stopAll, descendants, makeSrvApp, srvMounts };
