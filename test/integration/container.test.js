'use strict';
// examples/container/ run as a pod, without a container engine (none runs here): each container is a
// process as PID 1 of PID, mount, UTS and IPC namespaces of its own, the pod's containers share one
// network namespace (their own loopback: 0.0.0.0:9253 and port 8080 bind nothing of the machine's),
// and the emptyDir is one folder mounted at /run/app in both. What they run is read from the files:
// the Dockerfile's WORKDIR, USER, STOPSIGNAL and CMD; the manifest's probes, ConfigMap and grace period.
//
// What differs from a real cluster, and why:
// - the images are this machine's own root (node and nginx from Debian), with the app (the test app
//   and this checkout in its node_modules) mounted at the Dockerfile's WORKDIR; RUN and COPY are
//   not run, their result is that folder;
// - the image's accounts: the pool's --user node (node's image) runs as nobody, and nginx's image
//   user, uid and gid 101 (--listen-group 101), is www-data here;
// - nginx's main nginx.conf is a stand-in for the image's (it includes conf.d/*.conf, as the image's
//   does); the ConfigMap's default.conf is used as written. nginx's image stops on SIGQUIT;
// - the kubelet's probes are HTTP GETs from inside the pod's network namespace, to 127.0.0.1.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, eventually, skipWithout, have, succeeds, sleep } = require('../helpers/helpers');
const { startPid1, stopAll, makeSrvApp, srvMounts, descendants } = require('../helpers/namespaces');
const { RawConnection, request } = require('../helpers/fcgi-raw-client');

const EXAMPLES = path.join(__dirname, '..', '..', 'examples', 'container');
const POD_CLIENT = path.join(__dirname, '..', 'fixtures', 'pod-client.js');
const PYTHON = '/usr/bin/python3';
const isRoot = process.getuid?.() === 0;
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
const hasYaml = () => fs.existsSync(PYTHON) && succeeds(PYTHON, ['-c', 'import yaml']);
const skip = skipWithout(isRoot && NGINX && have('unshare') && have('nsenter') && have('setpriv') && have('ip') && hasYaml() && succeeds('id', ['www-data']) && succeeds('id', ['nobody']),
  'needs root, nginx, unshare, nsenter, setpriv, ip, python3-yaml and the www-data and nobody accounts');

/** The Dockerfile's instructions that matter at run time (line continuations joined). */
function parseDockerfile(text) {
  const image = {};
  for (const line of text.replace(/\\\n\s*/g, ' ').split('\n')) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!m || line.trim().startsWith('#')) continue;
    const [, instruction, value] = m;
    if (instruction === 'CMD') image.cmd = JSON.parse(value); // exec form: the command is PID 1
    else if (['WORKDIR', 'USER', 'STOPSIGNAL', 'FROM'].includes(instruction)) image[instruction.toLowerCase()] = value.trim();
  }
  return image;
}

function parseManifest(file) {
  const json = execFileSync(PYTHON, ['-c', 'import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))', file], { encoding: 'utf8' });
  const docs = JSON.parse(json);
  return { deployment: docs.find((d) => d.kind === 'Deployment'), configMap: docs.find((d) => d.kind === 'ConfigMap') };
}

/** One HTTP GET from inside the pod's network namespace, as the kubelet probes. */
function podGet(pod, port, urlPath, timeoutMs = 5_000) {
  const out = execFileSync('nsenter', [`--net=/proc/${pod}/ns/net`, '--', process.execPath, POD_CLIENT, 'get', String(port), urlPath, String(timeoutMs)], { encoding: 'utf8', timeout: timeoutMs + 10_000 });
  return JSON.parse(out);
}

/** The pod clients still running, killed after the test whatever happened. */
const clients = new Set();
test.after(() => {
  for (const c of clients) c.kill('SIGKILL');
});

/**
 * A load of kept-connection GETs from inside the pod: `stop()` ends it; resolves to
 * { ok, failed, endedBy, endedAt } (see fixtures/pod-client.js).
 */
function podLoad(pod, port, urlPath, { loops = 4, maxMs = 30_000, max = 100_000 } = {}) {
  const client = spawn('nsenter', [`--net=/proc/${pod}/ns/net`, '--', process.execPath, POD_CLIENT, 'loop', String(port), urlPath, String(loops), String(maxMs), String(max)], { stdio: ['ignore', 'pipe', 'inherit'] });
  clients.add(client);
  let out = '';
  client.stdout.on('data', (d) => (out += d));
  const result = new Promise((resolve) => client.on('close', (code, signal) => {
    clients.delete(client);
    try {
      resolve(JSON.parse(out));
    } catch {
      resolve({ ok: 0, failed: [{ error: `pod-client ended (${code ?? signal}) with ${JSON.stringify(out)}` }] });
    }
  }));
  return { stop: () => client.kill('SIGUSR2'), result };
}

const probe = (container, name) => container[name].httpGet;
const gidOf = (name) => Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }));

test('examples/container as a pod: the manager is PID 1, the probes answer (liveness while every worker is busy), a HUP under load loses nothing, deleting the pod lets a request finish within the grace period', { skip, timeout: 150_000 }, async (t) => {
  const image = parseDockerfile(fs.readFileSync(path.join(EXAMPLES, 'Dockerfile'), 'utf8'));
  const { deployment, configMap } = parseManifest(path.join(EXAMPLES, 'kubernetes.yaml'));
  const spec = deployment.spec.template.spec;
  const poolSpec = spec.containers.find((c) => c.name === 'pool');
  const nginxSpec = spec.containers.find((c) => c.name === 'nginx');
  const runMount = (c) => c.volumeMounts.find((m) => spec.volumes.find((v) => v.name === m.name)?.emptyDir).mountPath;
  assert.equal(runMount(poolSpec), runMount(nginxSpec), 'both containers mount the emptyDir at the same place');
  assert.equal(image.workdir, '/srv/app', 'the app is deployed where the test mounts it');
  assert.equal(image.stopsignal, 'SIGTERM');
  assert.equal(image.user, 'root', 'the manager starts as root, to run the workers as --user');

  // The grace period bounds the graceful stop: die_timeout must stay under it.
  const dieTimeout = Number(image.cmd[image.cmd.indexOf('--die-timeout') + 1]);
  assert.ok(dieTimeout > 0 && dieTimeout < spec.terminationGracePeriodSeconds, `--die-timeout ${dieTimeout} < terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds}`);

  // The pod's shared folder (emptyDir) and the pool's container, which owns the pod's network.
  const emptyDir = tempDir();
  fs.chmodSync(emptyDir, 0o755);
  const app = makeSrvApp();
  const cmd = image.cmd.map((arg, i) => (image.cmd[i - 1] === '--user' && arg === 'node' ? 'nobody'
    : image.cmd[i - 1] === '--listen-group' && arg === '101' ? String(gidOf('www-data')) : arg));
  const mountEmptyDir = (at) => ['mount -t tmpfs tmpfs /run', `mkdir -p ${at}`, `mount --bind ${emptyDir} ${at}`];
  const pool = await startPid1({
    command: cmd[0],
    args: cmd.slice(1),
    setup: [...srvMounts(app), ...mountEmptyDir(runMount(poolSpec)), `cd ${image.workdir}`].join('\n'),
    net: true,
  });
  t.after(() => stopAll(pool));
  const poolLog = () => pool.output();
  assert.ok(await eventually(() => /ready: 4 servers accepting/.test(poolLog()), 30_000), poolLog());

  // CMD in exec form: the command is PID 1, and it is the manager itself.
  assert.match(poolLog(), /FastCGI: manager \(pid 1\): running as PID 1: reaping orphaned processes/, `PID 1 is the manager, not a wrapper: ${poolLog()}`);
  const workers = descendants(pool.pid1).filter((p) => p.comm.startsWith('node')).map((p) => p.pid);
  assert.equal(workers.length, 4);
  for (const pid of workers) assert.match(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim()}\\s`, 'm'));

  // nginx's container, in the pod's network, with the ConfigMap at conf.d.
  const nginxDir = tempDir();
  const confD = path.join(nginxDir, 'conf.d');
  fs.mkdirSync(confD);
  for (const [name, text] of Object.entries(configMap.data)) fs.writeFileSync(path.join(confD, name), text);
  fs.copyFileSync('/etc/nginx/fastcgi_params', path.join(nginxDir, 'fastcgi_params'));
  fs.writeFileSync(path.join(nginxDir, 'nginx.conf'), [
    '# A stand-in for the nginx image\'s own nginx.conf.',
    'user www-data;', 'daemon off;', 'worker_processes 1;', 'error_log stderr notice;', `pid ${nginxDir}/nginx.pid;`,
    'events { worker_connections 256; }',
    `http { access_log off; include ${confD}/*.conf; }`, '',
  ].join('\n'));
  const nginx = await startPid1({ command: NGINX, args: ['-c', path.join(nginxDir, 'nginx.conf'), '-p', nginxDir], setup: mountEmptyDir(runMount(nginxSpec)).join('\n'), share: pool.pid1 });
  t.after(() => stopAll(nginx));

  // The probes, as the kubelet sends them.
  const poolReady = probe(poolSpec, 'readinessProbe');
  const nginxReady = probe(nginxSpec, 'readinessProbe');
  const poolLive = probe(poolSpec, 'livenessProbe');
  let answer = podGet(pool.pid1, poolReady.port, poolReady.path);
  assert.equal(answer.status, 200, JSON.stringify(answer));
  assert.ok(await eventually(() => podGet(pool.pid1, nginxReady.port, nginxReady.path).status === 200, 10_000), `nginx answers through FastCGI: ${nginx.output()}`);
  answer = podGet(pool.pid1, nginxReady.port, '/');
  assert.match(answer.body, /^pid=\d+/);

  // Liveness while every worker is busy: the manager answers /ping itself. The kubelet restarts the
  // container after failureThreshold probes in a row fail to answer within timeoutSeconds; here
  // that many probes are sent while the workers are still busy, and every one answers in time.
  // Each worker is made busy by a request of its own: sent straight to the pool's socket (the
  // emptyDir, seen from here), each on a new connection once the one before has started, so that
  // only a worker still free can accept it (nginx could reuse a kept connection to a busy one).
  const fastcgiSocket = path.join(emptyDir, path.relative(runMount(poolSpec), /listening on unix:(\S+)/.exec(poolLog())[1]));
  const busy = [];
  for (let i = 1; i <= workers.length; i++) {
    const conn = await RawConnection.open(fastcgiSocket);
    t.after(() => conn.close());
    await conn.write(request(1, { params: { REQUEST_URI: '/?busy=10', QUERY_STRING: 'busy=10' } }));
    busy.push(conn.response(1, 60_000).then((answer) => ({ ...answer, endedAt: Date.now() })));
    assert.ok(await eventually(() => (poolLog().match(/request started: \/\?busy=10/g) ?? []).length === i, 10_000), poolLog());
  }
  const busyPids = new Set([...poolLog().matchAll(/request started: \/\?busy=10 \(pid (\d+)\)/g)].map((m) => Number(m[1])));
  assert.equal(busyPids.size, workers.length, `every worker is busy (pids in the pod: ${[...busyPids].join(' ')})`);
  // The workers are also stopped (SIGSTOP) while the probes run, so that however slowly a loaded
  // machine sends them, no busy request can end first; each goes on once they are continued.
  const probes = [];
  for (const pid of workers) process.kill(pid, 'SIGSTOP');
  try {
    for (let i = 0; i < (poolLive.failureThreshold ?? 3); i++) probes.push(podGet(pool.pid1, poolLive.port, poolLive.path, (poolLive.timeoutSeconds ?? 1) * 1000));
  } finally {
    for (const pid of workers) process.kill(pid, 'SIGCONT');
  }
  assert.ok(probes.every((p) => p.status === 200), `liveness while busy: ${JSON.stringify(probes)}`);
  const busyDone = await Promise.all(busy);
  for (const b of busyDone) assert.equal(b.status, 200, `each busy request was answered: ${JSON.stringify(b)}`);
  const lastProbe = Math.max(...probes.map((p) => p.endedAt));
  assert.ok(busyDone.every((b) => b.endedAt > lastProbe), 'the probes were answered while every worker was still busy');
  t.diagnostic(`liveness probes while every worker was busy: ${probes.map((p) => `${p.status} in ${p.ms} ms`).join(', ')}`);

  // A HUP (a rolling reload) under load through nginx loses nothing.
  const load = podLoad(pool.pid1, nginxReady.port, '/', { loops: 4 });
  await sleep(500);
  process.kill(pool.pid1, 'SIGHUP');
  assert.ok(await eventually(() => /reload complete: generation 2/.test(poolLog()), 30_000), poolLog());
  await sleep(500);
  load.stop();
  const loaded = await load.result;
  assert.equal(loaded.endedBy, 'signal', 'the load ran until after the reload completed');
  assert.ok(loaded.ok > 0);
  assert.deepEqual(loaded.failed, [], `no failed request across the HUP (${loaded.ok} answered)`);
  t.diagnostic(`${loaded.ok} requests answered through nginx across the HUP, none failed`);

  // Deleting the pod: each container's STOPSIGNAL (the pool's TERM, nginx's image's QUIT); a request
  // in flight is answered, and both exit well within the grace period.
  const slow = podLoad(pool.pid1, nginxReady.port, '/?sleep=3', { loops: 1, max: 1 });
  assert.ok(await eventually(() => /request started: \/\?sleep=3/.test(poolLog()), 10_000));
  const deleted = Date.now();
  process.kill(pool.pid1, image.stopsignal);
  process.kill(nginx.pid1, 'SIGQUIT');
  const [poolExit, nginxExit] = await Promise.all([pool.exited, nginx.exited]);
  const tookMs = Date.now() - deleted;
  const slowDone = await slow.result;
  assert.deepEqual([slowDone.ok, slowDone.failed], [1, []], 'the request in flight was answered');
  assert.ok(slowDone.endedAt > deleted, 'answered after the signals were sent');
  assert.deepEqual([poolExit, nginxExit], [{ code: 0, signal: null }, { code: 0, signal: null }], poolLog());
  assert.ok(tookMs < spec.terminationGracePeriodSeconds * 1000, `stopped in ${tookMs} ms`);
  t.diagnostic(`the pod stopped ${tookMs} ms after its signals, a 3 s request in flight answered`);
  assert.match(poolLog(), /dying: safe exit from signal TERM/);
});
