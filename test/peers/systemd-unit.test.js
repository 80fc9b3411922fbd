'use strict';
// examples/systemd/ run by a real systemd: systemd itself as PID 1 of namespaces of its own (its own
// /run, unit path and loopback), which starts fcgi-pm.socket and fcgi-pm.service as written, with
// their hardening, and is driven with systemctl: start waits for READY=1, reload waits for the rolling
// reload (Type=notify-reload), the watchdog is fed, stop lets a request in flight finish.
//
// Two systemds: 254, unpacked from bookworm-backports by .ci/run and named by FCGI_PM_SYSTEMD_ROOT,
// runs the unit as written (Type=notify-reload is new in 253); Debian 12's own 252 runs the variant the
// unit's comment gives for it (Type=notify, ExecReload=/bin/kill -HUP $MAINPID).
//
// What else differs from a real machine, and why:
// - the units are read from a folder of the test's (SYSTEMD_UNIT_PATH), with empty stand-ins for
//   the targets they name and the journal's own units; the app is a test app bind-mounted at
//   /srv/app, and this checkout at /srv/fcgi-procmanager, since the unit's PrivateTmp=true hides the
//   /tmp they live in;
// - WatchdogSec=30 becomes 6, so that a missed WATCHDOG=1 would kill the service within the test;
// - systemd's writes stay inside: its own cgroup namespace in a cgroup of the test's (removed after),
//   tmpfs over /run, /tmp and /var/tmp (PrivateTmp's folders), /var/log and /var/lib/systemd, and a
//   read-only /proc/sys (systemd as PID 1 raises fs.nr_open). With no /etc/machine-id it would
//   take the start for a first boot and write presets into /etc: the test needs one.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, fcgiRequest, eventually, skipWithout, have, succeeds, sleep } = require('../helpers/helpers');
const { startPid1, runInside, stopAll, descendants, makeSrvApp, srvMounts } = require('../helpers/namespaces');

const ROOT = path.join(__dirname, '..', '..');
const EXAMPLES = path.join(ROOT, 'examples', 'systemd');
const isRoot = process.getuid?.() === 0;
const hasMachineId = () => {
  try {
    return fs.readFileSync('/etc/machine-id', 'utf8').trim().length > 0;
  } catch {
    return false;
  }
};
const TOOLS = isRoot && have('systemctl') && have('unshare') && have('nsenter') && have('setpriv') && have('ip') && succeeds('id', ['www-data']) && hasMachineId();
const NEEDS = 'needs root, unshare, nsenter, setpriv, ip, the www-data account, an /etc/machine-id';

/**
 * A systemd: the machine's, or one unpacked under `root` (Debian's layout, /lib/systemd and /bin, or
 * the merged /usr one), whose files are bind-mounted over the machine's in the namespaces only.
 */
function systemdAt(root) {
  const at = (...parts) => path.join(root ?? '/', ...parts);
  const multiarch = fs.readdirSync(at('usr/lib')).find((d) => /-linux-gnu/.test(d) && fs.existsSync(at('usr/lib', d, 'systemd')));
  const libDir = multiarch && at('usr/lib', multiarch, 'systemd');
  const shared = libDir && fs.readdirSync(libDir).find((f) => /^libsystemd-shared-\d+\.so$/.test(f));
  const systemdDir = ['lib/systemd', 'usr/lib/systemd'].map((d) => at(d)).find((d) => fs.existsSync(path.join(d, 'systemd')));
  const binDir = ['bin', 'usr/bin'].map((d) => at(d)).find((d) => fs.existsSync(path.join(d, 'systemctl')));
  if (!shared || !systemdDir || !binDir) return undefined;
  const mounts = !root ? [] : [
    `mount --bind ${systemdDir} /usr/lib/systemd`,
    `mount --bind ${libDir} /usr/lib/${multiarch}/systemd`,
    ...['systemctl', 'journalctl', 'systemd-notify'].map((bin) => `mount --bind ${binDir}/${bin} /usr/bin/${bin}`),
  ];
  return { version: Number(/(\d+)/.exec(shared)[1]), mounts };
}
const HOST = systemdAt(undefined);
/** A systemd with Type=notify-reload (253+): the one at FCGI_PM_SYSTEMD_ROOT, or the machine's own. */
const NEWER = [process.env.FCGI_PM_SYSTEMD_ROOT && systemdAt(process.env.FCGI_PM_SYSTEMD_ROOT), HOST].find((s) => s && s.version >= 253);

/** The example units, as the test installs them (see the top of this file). */
function installUnits(dir, version) {
  let service = fs.readFileSync(path.join(EXAMPLES, 'fcgi-pm.service'), 'utf8');
  const replace = (line, by) => {
    const lines = service.split('\n');
    assert.ok(lines.includes(line), `examples/systemd/fcgi-pm.service has the line ${line}`);
    lines[lines.indexOf(line)] = by;
    service = lines.join('\n');
  };
  if (version < 253) {
    replace('Type=notify-reload', 'Type=notify');
    replace('ReloadSignal=SIGHUP', 'ExecReload=/bin/kill -HUP $MAINPID');
  }
  replace('WatchdogSec=30', 'WatchdogSec=6');
  fs.writeFileSync(path.join(dir, 'fcgi-pm.service'), service);
  fs.copyFileSync(path.join(EXAMPLES, 'fcgi-pm.socket'), path.join(dir, 'fcgi-pm.socket'));
  for (const target of ['default', 'sysinit', 'basic', 'sockets', 'network', 'multi-user', 'shutdown', 'paths', 'timers', 'slices']) {
    fs.writeFileSync(path.join(dir, `${target}.target`), `[Unit]\nDescription=${target} (empty, for the test)\n`);
  }
  // The journal, where the services' output goes, as on a real machine.
  for (const unit of ['systemd-journald.service', 'systemd-journald.socket', 'systemd-journald-dev-log.socket', 'systemd-journald-audit.socket']) {
    fs.symlinkSync(path.join('/lib/systemd/system', unit), path.join(dir, unit));
  }
}

function show(pid1, unit, ...props) {
  return runInside(pid1, 'systemctl', ['show', unit, ...props.map((p) => `-p${p}`)]).then(({ stdout }) =>
    Object.fromEntries(stdout.trim().split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])));
}

function uidOf(pid) {
  return Number(/^Uid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

async function runExample(t, systemd) {
  const units = tempDir();
  installUnits(units, systemd.version);
  const app = makeSrvApp();
  const consoleLog = path.join(tempDir(), 'console');
  fs.writeFileSync(consoleLog, '');
  const setup = [
    'mount -t tmpfs tmpfs /run',
    ...srvMounts(app),
    'mkdir /srv/units',
    `mount --bind ${units} /srv/units`,
    `mount --bind ${consoleLog} /dev/console`, // systemd's own output
    ...systemd.mounts,
    // What is bound from /tmp is bound by now: the rest of /tmp is hidden.
    ...['/tmp', '/var/tmp', '/var/log', '/var/lib/systemd'].map((dir) => `mount -t tmpfs tmpfs ${dir}`),
    'mkdir /var/log/app', // the unit's ReadWritePaths
    'mount --bind /proc/sys /proc/sys',
    'mount -o remount,bind,ro /proc/sys',
  ].join('\n');
  const ns = await startPid1({
    command: '/lib/systemd/systemd',
    args: ['--system', '--log-target=console', '--log-level=notice'],
    setup,
    net: true,
    cgroup: true,
    env: { SYSTEMD_UNIT_PATH: '/srv/units', container: 'fcgi-pm-test' },
  });
  t.after(() => stopAll(ns));
  const systemctl = (...args) => runInside(ns.pid1, 'systemctl', args);
  /** The service's journal, then what systemd itself printed. */
  const log = async () => `${(await runInside(ns.pid1, 'journalctl', ['--no-pager', '-o', 'cat', '-u', 'fcgi-pm.service'])).stdout}\n(systemd: ${fs.readFileSync(consoleLog, 'utf8')})`;
  assert.ok(await eventually(async () => /running|degraded/.test((await systemctl('is-system-running')).stdout), 20_000), `systemd came up: ${ns.output()}${await log()}`);

  const journald = await systemctl('start', 'systemd-journald.socket', 'systemd-journald-dev-log.socket', 'systemd-journald.service');
  assert.equal(journald.code, 0, journald.stderr);

  // The .socket: systemd binds it, with the owner, group and mode it names.
  const started = await systemctl('start', 'fcgi-pm.socket');
  assert.equal(started.code, 0, started.stderr);
  const socketPath = `/proc/${ns.pid1}/root/run/app/fcgi.sock`;
  const st = fs.statSync(socketPath);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o660);
  assert.equal(st.gid, Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' })));

  // start returns once the manager sent READY=1: every worker accepts by then.
  const start = await systemctl('start', 'fcgi-pm.service');
  assert.equal(start.code, 0, `${start.stderr}\n${await log()}\n${(await systemctl('status', '--no-pager', '-l', 'fcgi-pm.service')).stdout}`);
  // Active (not activating) as start returns, with the STATUS= that came with READY=1.
  let state = await show(ns.pid1, 'fcgi-pm.service', 'MainPID', 'ActiveState', 'SubState', 'StatusText');
  assert.deepEqual([state.ActiveState, state.SubState, state.StatusText], ['active', 'running', '4 of 4 servers accepting, generation 1']);
  // The journal takes the service's output on its own time: waited for.
  assert.ok(await eventually(async () => /FastCGI: manager \(pid \d+\): ready: 4 servers accepting/.test(await log()), 10_000), await log());
  assert.match(await log(), /FastCGI: manager \(pid \d+\): listening on fd 3$/m, 'the socket came from systemd (LISTEN_FDS)');
  const manager = descendants(ns.pid1).find((p) => p.comm.startsWith('node') && fs.readFileSync(`/proc/${p.pid}/status`, 'utf8').includes(`NSpid:\t${p.pid}\t${state.MainPID}\n`));
  const mainPid = state.MainPID;
  assert.ok(manager, `MainPID ${state.MainPID} is the manager (no npx/npm process in between): ${JSON.stringify(descendants(ns.pid1))}`);
  assert.equal(fs.readlinkSync(`/proc/${manager.pid}/exe`), fs.realpathSync(process.execPath), 'the unit runs the Node under test');
  const workersOf = () => descendants(manager.pid).filter((p) => p.comm.startsWith('node')).map((p) => p.pid);
  const generation1 = workersOf();
  assert.equal(generation1.length, 4);
  assert.equal(uidOf(manager.pid), 0, 'the manager stays root');
  const www = Number(execFileSync('id', ['-u', 'www-data'], { encoding: 'utf8' }));
  for (const pid of generation1) assert.equal(uidOf(pid), www, `worker ${pid} runs as www-data (--user)`);
  const answer = await fcgiRequest(socketPath);
  assert.ok(answer.ok, answer.stdout + answer.stderr);

  // reload. With Type=notify-reload (253+) systemd sends the HUP itself and the unit stays
  // "reloading" until READY=1, which the manager sends once the new generation accepts: had systemd
  // not waited, it would be active again at once, long before the new workers boot, with the
  // STATUS= of the RELOADING=1 message. On 252 (ExecReload=kill) reload returns once kill has.
  const reload = await systemctl('reload', 'fcgi-pm.service');
  assert.equal(reload.code, 0, reload.stderr);
  if (systemd.version >= 253) {
    const now = await show(ns.pid1, 'fcgi-pm.service', 'ActiveState', 'SubState', 'StatusText');
    assert.deepEqual([now.ActiveState, now.SubState, now.StatusText], ['active', 'running', '4 of 4 servers accepting, generation 2'],
      'systemctl reload returned only once the reload completed');
  }
  assert.ok(await eventually(async () => (await show(ns.pid1, 'fcgi-pm.service', 'StatusText')).StatusText === '4 of 4 servers accepting, generation 2', 20_000), await log());
  assert.ok(await eventually(async () => /reload complete: generation 2, 4 servers accepting/.test(await log()), 10_000), await log());
  state = await show(ns.pid1, 'fcgi-pm.service', 'ActiveState', 'SubState', 'MainPID');
  assert.deepEqual([state.ActiveState, state.SubState, state.MainPID], ['active', 'running', mainPid], 'the same manager, running');
  assert.ok(await eventually(() => workersOf().every((pid) => !generation1.includes(pid)) && workersOf().length === 4, 20_000), 'the old generation is gone');
  assert.ok((await fcgiRequest(socketPath)).ok);

  // The watchdog (WatchdogSec=6 here): systemd records each WATCHDOG=1; the service outlives two
  // periods, never restarted.
  const pinged = Number((await show(ns.pid1, 'fcgi-pm.service', 'WatchdogTimestampMonotonic')).WatchdogTimestampMonotonic);
  await sleep(13_000);
  state = await show(ns.pid1, 'fcgi-pm.service', 'ActiveState', 'NRestarts', 'WatchdogTimestampMonotonic', 'MainPID');
  assert.equal(state.ActiveState, 'active');
  assert.equal(state.NRestarts, '0', 'never killed by the watchdog');
  assert.equal(state.MainPID, mainPid);
  assert.ok(Number(state.WatchdogTimestampMonotonic) > pinged, `WATCHDOG=1 came within 13 s (${pinged} -> ${state.WatchdogTimestampMonotonic})`);
  assert.doesNotMatch(await log(), /[Ww]atchdog timeout/);

  // stop: TERM to the manager (KillMode=mixed). The request in flight when stop is sent is answered,
  // and the manager itself sees each worker exit 0: none was left for systemd to KILL.
  let answeredAt;
  const slow = fcgiRequest(socketPath, { query: 'sleep=5' }).then((r) => ((answeredAt = Date.now()), r));
  assert.ok(await eventually(async () => /request started: \/\?sleep=5/.test(await log()), 10_000));
  const stopSent = Date.now();
  const stop = await systemctl('stop', 'fcgi-pm.service');
  assert.equal(stop.code, 0, stop.stderr);
  const inFlight = await slow;
  assert.ok(inFlight.ok, `the request in flight was answered: ${inFlight.stdout}${inFlight.stderr}`);
  assert.ok(answeredAt > stopSent, 'answered after stop was sent');
  state = await show(ns.pid1, 'fcgi-pm.service', 'ActiveState', 'Result', 'ExecMainStatus');
  assert.deepEqual([state.ActiveState, state.Result, state.ExecMainStatus], ['inactive', 'success', '0'], await log());
  assert.ok(await eventually(async () => /dying: safe exit from signal TERM/.test(await log()), 10_000), await log());
  const afterTerm = (await log()).split('received signal TERM')[1] ?? '';
  assert.equal((afterTerm.match(/server \(pid \d+\) exited with status 0/g) ?? []).length, 4, `the manager saw its 4 workers exit: ${afterTerm}`);
}

test(`examples/systemd as written, under systemd ${NEWER?.version ?? '253+'}: socket activation, start waits for READY, reload for the rolling reload (Type=notify-reload), the watchdog is fed, stop lets a request finish`,
  { skip: skipWithout(TOOLS && NEWER, `${NEEDS} and a systemd of 253 or later: the machine's, or one unpacked at FCGI_PM_SYSTEMD_ROOT (.ci/run does)`), timeout: 150_000 },
  (t) => runExample(t, NEWER));

test(`examples/systemd with its variant for systemd 252, under the machine's systemd ${HOST?.version ?? ''}: the same, with reload not waited for`,
  { skip: HOST && HOST.version >= 253 ? 'the machine\'s systemd is 253 or later' : skipWithout(TOOLS && HOST, `${NEEDS} and systemd`), timeout: 150_000 },
  (t) => runExample(t, HOST));
