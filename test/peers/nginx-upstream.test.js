'use strict';
// examples/nginx-upstream.conf: three pools on loopback ports behind one nginx upstream over TCP, as
// several hosts would be; one pool stopped (TERM) while a request load runs loses no request.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, startNode, startHello, tempDir, eventually, have, skipWithout, freePort, httpGet } = require('../helpers/helpers');

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
const skip = skipWithout(NGINX, 'nginx is not installed (Debian package nginx-light)');

const get = (port) => httpGet(port);

test('three pools behind one nginx upstream: all serve, and one stopped under load costs no request', { skip }, async () => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const pools = [];
  for (const port of ports) pools.push(await startHello({ n: 1, env: { FCGI_LISTEN: `127.0.0.1:${port}` } }));
  const prefix = tempDir();
  fs.mkdirSync(path.join(prefix, 'tmp'));
  const webPort = await freePort();
  let conf = fs.readFileSync(path.join(ROOT, 'examples', 'nginx-upstream.conf'), 'utf8');
  ports.forEach((port, i) => (conf = conf.replace(`server 127.0.0.1:900${i + 1} `, `server 127.0.0.1:${port} `)));
  conf = conf.replace('listen 127.0.0.1:8080;', `listen 127.0.0.1:${webPort};`).replace('error_log stderr warn;', `error_log ${path.join(prefix, 'error.log')} warn;`);
  for (const port of ports) assert.match(conf, new RegExp(`server 127\\.0\\.0\\.1:${port} `));
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
  const nginx = startNode({ command: NGINX, args: ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')] });
  try {
    assert.ok(await eventually(() => get(webPort).then((r) => r.status === 200), 10_000), 'nginx answers');
    const servedBy = new Set();
    for (let i = 0; i < 30; i++) servedBy.add(/pid=(\d+)/.exec((await get(webPort)).body)?.[1]);
    assert.equal(servedBy.size, 3, 'each pool serves');

    const results = [];
    let stop = false;
    const deadline = Date.now() + 20_000;
    const loops = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 1_500 && !stop && Date.now() < deadline; i++) results.push(await get(webPort));
    });
    await eventually(() => results.length >= 100, 10_000);
    pools[1].kill('SIGTERM');
    assert.equal((await pools[1].exited).code, 0, 'the stopped pool exits cleanly');
    const afterStop = results.length;
    await eventually(() => results.length >= afterStop + 300, 15_000);
    stop = true;
    await Promise.all(loops);
    const failed = results.filter((r) => r.status !== 200);
    assert.equal(failed.length, 0, `${failed.length} of ${results.length} failed: ${failed.slice(0, 3).map((r) => `${r.status} ${r.body.slice(0, 80)}`).join(' | ')}`);
    assert.ok(results.length >= afterStop + 300, 'the load went on after the stop');
  } finally {
    nginx.kill('SIGTERM');
    await nginx.exited;
    for (const pool of [pools[0], pools[2]]) {
      pool.kill('SIGTERM');
      await pool.exited;
    }
  }
});
