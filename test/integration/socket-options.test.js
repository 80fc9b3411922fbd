'use strict';
// The manager's socket as a deployment wants it: a unix socket's mode, owner and group set before
// anyone can connect (listen_mode, listen_owner, listen_group), the backlog (listen_backlog) kept by
// every worker's listen, and listen_allowed_clients for TCP. Run as root where ownership is involved.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, startHello, fcgiRequest, freePort, skipWithout, have, eventually, httpGet } = require('../helpers/helpers');
const { validateParams } = require('../../dist/params');
const { NGINX, startWebServer } = require('../helpers/webservers');

const isRoot = process.getuid?.() === 0;

/** An unprivileged account and a group it is not in (www-data / nogroup on Debian). */
function accounts() {
  const passwd = fs.readFileSync('/etc/passwd', 'utf8');
  const group = fs.readFileSync('/etc/group', 'utf8');
  const entry = (text, name) => new RegExp(`^${name}:[^:]*:(\\d+):(\\d+)?`, 'm').exec(text);
  const www = entry(passwd, 'www-data');
  const wwwGroup = entry(group, 'www-data');
  const nobody = entry(passwd, 'nobody');
  if (!www || !wwwGroup || !nobody) return undefined;
  return { www: { uid: Number(www[1]), gid: Number(www[2]) }, wwwGid: Number(wwwGroup[1]), nobody: { uid: Number(nobody[1]), gid: Number(nobody[2]) } };
}
const ACCOUNTS = accounts();

/** cgi-fcgi as `uid`/`gid`. */
const requestAs = (address, { uid, gid }) => fcgiRequest(address, { uid, gid });

test('socket parameters: validated', () => {
  assert.deepEqual(validateParams({ listen_mode: '0660', listen_backlog: '64', listen_allowed_clients: '127.0.0.1, ::1', listen_owner: 'www-data', listen_group: 33 }), {
    listen_mode: 0o660,
    listen_backlog: 64,
    listen_allowed_clients: ['127.0.0.1', '::1'],
    listen_owner: 'www-data',
    listen_group: 33,
  });
  assert.equal(validateParams({ listen_mode: 0o600 }).listen_mode, 0o600);
  assert.throws(() => validateParams({ listen_mode: '660x' }), /listen_mode must be an octal mode such as '0660'/);
  assert.throws(() => validateParams({ listen_mode: '0999' }), /listen_mode must be an octal mode/);
  assert.throws(() => validateParams({ listen_backlog: 0 }), /listen_backlog must be at least 1/);
  assert.throws(() => validateParams({ listen_allowed_clients: '127.0.0.1,example.com' }), /listen_allowed_clients: "example.com" is not an IP address/);
  assert.throws(() => validateParams({ listen_owner: 'a b' }), /listen_owner must be a name or a numeric id/);
});

test('a unix socket gets listen_mode and listen_group: a client of that group connects, another user cannot', { skip: skipWithout(isRoot && ACCOUNTS, 'needs root and the www-data and nobody accounts') }, async () => {
  const dir = tempDir();
  fs.chmodSync(dir, 0o711); // others may reach the socket, not list the directory
  const address = path.join(dir, 'fcgi.sock');
  const pm = await startHello({ n: 2, env: { FCGI_LISTEN: address, PM_LISTEN_GROUP: 'www-data', PM_LISTEN_MODE: '0660' } });
  const stat = fs.statSync(address);
  assert.equal(stat.mode & 0o777, 0o660);
  assert.equal(stat.uid, 0, 'owned by the manager (root)');
  assert.equal(stat.gid, ACCOUNTS.wwwGid);
  const asWww = await requestAs(address, ACCOUNTS.www);
  assert.equal(asWww.code, 0, asWww.stderr);
  assert.match(asWww.stdout, /^Status: 200/m, 'www-data, in the group, is answered');
  const asNobody = await requestAs(address, ACCOUNTS.nobody);
  assert.notEqual(asNobody.code, 0, 'nobody, in neither, is refused');
  assert.doesNotMatch(asNobody.stdout, /Status: 200/);
  pm.kill('SIGTERM');
  assert.equal((await pm.exited).code, 0);
});

test('nginx running as www-data reaches the pool through listen_group www-data and the default mode, and is refused without the group', { skip: skipWithout(isRoot && ACCOUNTS && NGINX, 'needs root, the www-data account and nginx') }, async () => {
  const dir = tempDir();
  fs.chmodSync(dir, 0o711);
  const withGroup = path.join(dir, 'grouped.sock');
  const without = path.join(dir, 'plain.sock');
  const grouped = await startHello({ n: 1, env: { FCGI_LISTEN: withGroup, PM_LISTEN_GROUP: 'www-data' } });
  const plain = await startHello({ n: 1, env: { FCGI_LISTEN: without } });
  const servers = [];
  try {
    for (const socketPath of [withGroup, without]) servers.push(await startWebServer('nginx', socketPath, { user: 'www-data' }));
    const workerUid = (pid) => Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
    const nginxWorkers = execFileSync('pgrep', ['-P', String(servers[0].proc.pid)], { encoding: 'utf8' }).trim().split('\n').map(Number);
    assert.ok(nginxWorkers.length > 0 && nginxWorkers.every((pid) => workerUid(pid) === ACCOUNTS.www.uid), 'nginx\'s worker runs as www-data');
    const answered = await httpGet(servers[0].port);
    assert.equal(answered.status, 200, answered.body);
    const refused = await httpGet(servers[1].port);
    assert.equal(refused.status, 502, 'without the group, nginx as www-data cannot connect');
    assert.ok(servers[1].errorLog().some((l) => /Permission denied/.test(l)), servers[1].errorLog().join('\n'));
  } finally {
    for (const server of servers) await server.stop();
    for (const pm of [grouped, plain]) {
      pm.kill('SIGTERM');
      await pm.exited;
    }
  }
});

test('listen_owner and the default mode 0660: the owner connects, others cannot', { skip: skipWithout(isRoot && ACCOUNTS, 'needs root and the www-data and nobody accounts') }, async () => {
  const dir = tempDir();
  fs.chmodSync(dir, 0o711);
  const address = path.join(dir, 'fcgi.sock');
  const pm = await startHello({ n: 1, env: { FCGI_LISTEN: address, PM_LISTEN_OWNER: 'www-data' } });
  const stat = fs.statSync(address);
  assert.equal(stat.mode & 0o777, 0o660, 'the default mode');
  assert.equal(stat.uid, ACCOUNTS.www.uid);
  assert.match((await requestAs(address, ACCOUNTS.www)).stdout, /^Status: 200/m);
  assert.notEqual((await requestAs(address, ACCOUNTS.nobody)).code, 0);
  pm.kill('SIGTERM');
  await pm.exited;
  const bad = await startHello({ n: 1, waitReady: false, env: { FCGI_LISTEN: path.join(dir, 'other.sock'), PM_LISTEN_OWNER: 'no-such-user-here' } });
  assert.equal((await bad.exited).code, 2);
  assert.match(bad.lines.join('\n'), /listen_owner: no such user "no-such-user-here"/);
});

test('listen_backlog: the socket keeps it after every worker has listened on it', { skip: skipWithout(have('ss'), 'ss (iproute2) is not installed') }, async () => {
  const address = path.join(tempDir(), 'fcgi.sock');
  const pm = await startHello({ n: 2, env: { FCGI_LISTEN: address, PM_LISTEN_BACKLOG: '64' } });
  const line = execFileSync('ss', ['-lxnH']).toString().split('\n').find((l) => l.includes(` ${address} `));
  assert.ok(line, 'the socket is listed');
  assert.equal(Number(line.trim().split(/\s+/)[3]), 64, `Send-Q is the backlog: ${line}`);
  assert.ok((await fcgiRequest(address)).ok);
  pm.kill('SIGTERM');
  await pm.exited;
});

test('listen_allowed_clients: a TCP client from another address is dropped at accept and logged; an allowed one is answered', async () => {
  const port = await freePort();
  const denied = await startHello({ n: 1, env: { FCGI_LISTEN: `127.0.0.1:${port}`, PM_LISTEN_ALLOWED_CLIENTS: '127.0.0.2' } });
  const r = await fcgiRequest(`127.0.0.1:${port}`, { timeoutMs: 10_000 });
  assert.equal(r.ok, false, 'dropped');
  await denied.waitFor(/connection disallowed: IP address '127\.0\.0\.1' has been dropped/);
  denied.kill('SIGTERM');
  await denied.exited;
  const port2 = await freePort();
  const allowed = await startHello({ n: 1, env: { FCGI_LISTEN: `127.0.0.1:${port2}`, PM_LISTEN_ALLOWED_CLIENTS: '127.0.0.1,::1' } });
  assert.ok((await fcgiRequest(`127.0.0.1:${port2}`)).ok);
  assert.equal(allowed.count(/connection disallowed/), 0);
  allowed.kill('SIGTERM');
  await allowed.exited;
});
