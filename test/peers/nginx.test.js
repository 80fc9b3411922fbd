'use strict';
// nginx in front of the pool, configured from examples/nginx.conf: requests through a real web server
// see no failure while the manager reloads its workers.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, startNode, startHello, livePids, waitForReplacement, tempDir, eventually, sleep, have, skipWithout, freePort, httpGet } = require('../helpers/helpers');

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
const skip = skipWithout(NGINX && have('cgi-fcgi'), 'nginx or cgi-fcgi is not installed (Debian packages nginx-light, libfcgi-bin)');


/** Starts nginx with examples/nginx.conf, pointed at `upstream` and listening on a free port. */
async function startNginx(upstream) {
  const prefix = tempDir();
  fs.mkdirSync(path.join(prefix, 'tmp'));
  const port = await freePort();
  const conf = fs
    .readFileSync(path.join(ROOT, 'examples', 'nginx.conf'), 'utf8')
    .replace('server 127.0.0.1:9000;', `server ${upstream};`)
    .replace('listen 127.0.0.1:8080;', `listen 127.0.0.1:${port};`)
    .replace('error_log stderr warn;', `error_log ${path.join(prefix, 'error.log')} warn;`);
  assert.match(conf, new RegExp(`server ${upstream.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')};`));
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
  const nginx = startNode({ command: NGINX, args: ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')] });
  const up = await eventually(() => get(port, '/').then((r) => r.status !== 0), 5_000);
  assert.ok(up, 'nginx answers');
  return { nginx, port, errorLog: () => fs.readFileSync(path.join(prefix, 'error.log'), 'utf8') };
}

const get = (port, urlPath) => httpGet(port, urlPath);

test('through nginx: answers, and two HUPs under 4 concurrent request loops cost no request', { skip }, async () => {
  const pm = await startHello({ n: 2, env: { FCGI_LISTEN: '127.0.0.1:0' } });
  const port = Number(/:(\d+)$/.exec(await pm.waitFor(/listening on 127\.0\.0\.1:\d+/))[1]);
  const web = await startNginx(`127.0.0.1:${port}`);
  try {
    const first = await get(web.port, '/');
    assert.equal(first.status, 200);
    assert.equal(first.type, 'text/plain');
    assert.match(first.body, /^pid=\d+\n$/);

    const before = livePids(pm);
    const results = [];
    let stop = false;
    // 4 concurrent loops, each bounded to 1,500 requests and 10 seconds.
    const loops = Array.from({ length: 4 }, async () => {
      const deadline = Date.now() + 10_000;
      for (let i = 0; i < 1_500 && !stop && Date.now() < deadline; i++) results.push(await get(web.port, '/'));
    });
    await sleep(300);
    pm.kill('SIGHUP');
    const middle = await waitForReplacement(pm, before, 2);
    pm.kill('SIGHUP');
    await waitForReplacement(pm, middle, 2);
    await sleep(500);
    stop = true;
    await Promise.all(loops);

    const failed = results.filter((r) => r.status !== 200 || !/^pid=\d+\n$/.test(r.body));
    assert.equal(failed.length, 0, `failed: ${JSON.stringify(failed.slice(0, 5))}`);
    assert.ok(results.length > 100, `only ${results.length} requests`);
    assert.equal(pm.count(/received signal HUP/), 2);
    assert.ok(before.every((pid) => !livePids(pm).includes(pid)), 'every worker was replaced');
    assert.equal(web.errorLog().trim(), '', 'nginx logged no upstream error');
  } finally {
    web.nginx.kill('SIGQUIT');
    await web.nginx.exited;
    pm.kill('SIGTERM');
    assert.equal((await pm.exited).code, 0);
  }
});
