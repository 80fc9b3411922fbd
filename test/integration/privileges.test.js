'use strict';
// user and group: started as root, the manager stays root (socket, pid file, signals) and each
// worker becomes the user, with its supplementary groups, before any application code runs.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { after } = require('node:test');
const { tempDir, startNode, livePids, fcgiRequest, eventually } = require('../helpers/helpers');

const APP = path.join(__dirname, '..', 'fixtures', 'whoami-app.js');
const isRoot = process.getuid?.() === 0;
const GROUP = 'fcgipm-extra';
const USER = 'fcgipm-user';

/** A throwaway account with a supplementary group, made for this file and removed after it. */
function makeAccount() {
  if (!isRoot) return false;
  try {
    execFileSync('groupadd', ['-f', GROUP], { stdio: 'ignore' });
    execFileSync('sh', ['-c', `id -u ${USER} >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ${USER}`], { stdio: 'ignore' });
    execFileSync('usermod', ['-a', '-G', GROUP, USER], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const HAVE_ACCOUNT = makeAccount();
after(() => {
  if (!HAVE_ACCOUNT) return;
  try {
    execFileSync('userdel', [USER], { stdio: 'ignore' });
    execFileSync('groupdel', [GROUP], { stdio: 'ignore' });
  } catch {
    // already gone
  }
});

const ids = (name) => ({
  uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' })),
  gid: Number(execFileSync('id', ['-g', name], { encoding: 'utf8' })),
  groups: execFileSync('id', ['-G', name], { encoding: 'utf8' }).trim().split(/\s+/).map(Number).sort((a, b) => a - b),
});

function statusOf(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)[1].trim().split(/\s+/).map(Number);
  return { uid: field('Uid'), gid: field('Gid'), groups: text.match(/^Groups:\s*(.*)$/m)[1].trim().split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b) };
}

const skip = !isRoot ? 'needs root' : !HAVE_ACCOUNT ? 'cannot create a test account (groupadd/useradd)' : false;

test('user: the workers run as the user with its supplementary groups, from their first line of code; the manager stays root', { skip }, async () => {
  const dir = tempDir();
  fs.chmodSync(dir, 0o755);
  const secret = path.join(dir, 'root-only');
  fs.writeFileSync(secret, 'x', { mode: 0o600 });
  const access = path.join(dir, 'access.log');
  const address = path.join(dir, 'fcgi.sock');
  const pm = startNode({ script: APP, env: { FCGI_LISTEN: address, PM_USER: USER, APP_ROOT_ONLY_FILE: secret, PM_ACCESS_LOG: access } });
  const expected = ids(USER);
  assert.ok(expected.groups.length >= 2, `the account has a supplementary group: ${expected.groups}`);
  await pm.waitFor(/ready: 2 servers accepting/, 15_000);
  assert.match(await pm.waitFor(/workers run as user/), new RegExp(`workers run as user ${USER} \\(uid ${expected.uid}, gid ${expected.gid}\\)$`));
  const workers = livePids(pm);
  for (const pid of workers) {
    const s = statusOf(pid);
    assert.deepEqual(s.uid, [expected.uid, expected.uid, expected.uid, expected.uid], `worker ${pid} Uid`);
    assert.deepEqual(s.gid, [expected.gid, expected.gid, expected.gid, expected.gid], `worker ${pid} Gid`);
    assert.deepEqual(s.groups, expected.groups, `worker ${pid} Groups: initgroups, not setgroups(0)`);
    // Its code's first line ran unprivileged.
    const loaded = pm.lines.find((l) => l.startsWith('loaded as ') && l.endsWith(` pid ${pid}`));
    assert.equal(loaded, `loaded as uid ${expected.uid} gid ${expected.gid} groups ${JSON.stringify(s.groups)} pid ${pid}`, `worker ${pid} loaded unprivileged`);
  }
  assert.ok(pm.lines.some((l) => l.startsWith('loaded as uid 0 ') && l.endsWith(` pid ${pm.pid}`)), 'the manager loaded as root');
  assert.deepEqual(statusOf(pm.pid).uid, [0, 0, 0, 0], 'the manager stays root');
  const answer = await fcgiRequest(address);
  assert.ok(answer.ok, answer.stdout);
  assert.match(answer.body, new RegExp(`uid=${expected.uid} read-root-file=EACCES`));
  assert.ok(await eventually(() => fs.existsSync(access) && fs.readFileSync(access, 'utf8').includes('"GET /"'), 5_000), 'the worker writes the access log it was handed');
  assert.equal(fs.statSync(access).uid, expected.uid);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('as root with no user, one warning; a user other than the manager\'s own, when not root, is refused', async () => {
  if (isRoot) {
    const pm = startNode({ script: APP, env: { FCGI_LISTEN: path.join(tempDir(), 'fcgi.sock') } });
    await pm.waitFor(/ready: 2 servers accepting/, 15_000);
    assert.equal(pm.count(/running the workers as root: set user \(and group\) to run them unprivileged/), 1);
    pm.kill('SIGTERM');
    await pm.exited;
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
    const nogroup = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }));
    const dir = tempDir();
    fs.chmodSync(dir, 0o777);
    const refused = startNode({ script: APP, uid: nobody, gid: nogroup, env: { FCGI_LISTEN: path.join(dir, 'fcgi.sock'), PM_USER: 'root' } });
    assert.equal((await refused.exited).code, 2);
    assert.match(refused.lines.join('\n'), /user root: changing user needs a manager started as root \(this one is uid \d+\)/);
  }
  const noUser = startNode({ script: APP, env: { FCGI_LISTEN: path.join(tempDir(), 'fcgi.sock'), PM_GROUP: 'nogroup' } });
  assert.equal((await noUser.exited).code, 2);
  assert.match(noUser.lines.join('\n'), /group needs user/);
});

test('fcgi-pm --user: an unchanged node-fastcgi app runs as the user, with its supplementary groups; the manager stays root', { skip }, async () => {
  const dir = tempDir();
  fs.chmodSync(dir, 0o755); // the user reads the app
  fs.cpSync(path.join(__dirname, '..', 'fixtures', 'cli-app'), dir, { recursive: true });
  for (const name of ['node-fastcgi', 'fastcgi-stream', 'bufferlist']) {
    fs.cpSync(path.join(__dirname, '..', '..', 'node_modules', name), path.join(dir, 'node_modules', name), { recursive: true });
  }
  const address = path.join(dir, 'fcgi.sock');
  const pm = startNode({ script: path.join(__dirname, '..', '..', 'bin', 'fcgi-pm.js'), args: ['-n', '2', '--listen', address, '--user', USER, 'app.js'], cwd: dir });
  await pm.waitFor(/ready: 2 servers accepting/, 20_000);
  const expected = ids(USER);
  const workers = livePids(pm);
  assert.equal(workers.length, 2);
  for (const pid of workers) {
    const s = statusOf(pid);
    assert.deepEqual(s.uid, [expected.uid, expected.uid, expected.uid, expected.uid], `worker ${pid} Uid`);
    assert.deepEqual(s.groups, expected.groups, `worker ${pid} Groups`);
  }
  assert.deepEqual(statusOf(pm.pid).uid, [0, 0, 0, 0], 'the manager stays root');
  const answer = await fcgiRequest(address);
  assert.ok(answer.ok, answer.stdout);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});
