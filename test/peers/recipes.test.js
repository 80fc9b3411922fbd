'use strict';
// The web-server recipes in examples/ (apache.conf, lighttpd.conf), run as they
// are written but for their paths and ports: the pool behind each answers, and a HUP under a request
// loop loses nothing. Apache's recipe keeps its FastCGI connections (enablereuse=on), and Apache
// retries nothing: the reload must hand those connections over to the new workers, not close them. (nginx.conf: test/peers/nginx.test.js; nginx-upstream.conf: test/peers/nginx-upstream.test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, startNode, startHello, livePids, tempDir, eventually, freePort, httpGet } = require('../helpers/helpers');
const { APACHE, APACHE_MODULES, LIGHTTPD, apacheSkip, apacheUser, lighttpdSkip } = require('../helpers/webservers');


const get = (port) => httpGet(port);

/** The example, with its directory, port, socket (and module directory, user) replaced. */
function render(file, { dir, port, socket, replacements = [] }) {
  let conf = fs.readFileSync(path.join(ROOT, 'examples', file), 'utf8');
  for (const [from, to] of [...replacements, ['/run/app/fcgi.sock', socket], ['8080', String(port)]]) {
    assert.ok(conf.includes(from), `${file} has ${from}`);
    conf = conf.split(from).join(to);
  }
  const out = path.join(dir, file);
  fs.writeFileSync(out, conf);
  return out;
}

const RECIPES = [
  {
    name: 'Apache 2.4 with mod_proxy_fcgi and enablereuse=on (examples/apache.conf)',
    skip: apacheSkip,
    keepsConnections: true,
    errorLog: 'error.log',
    start({ dir, port, socket }) {
      const { user, group } = apacheUser();
      const conf = render('apache.conf', { dir, port, socket, replacements: [['/tmp/fcgi-apache', dir], ['/usr/lib/apache2/modules', APACHE_MODULES ?? '/usr/lib/apache2/modules'], ['User www-data', `User ${user}`], ['Group www-data', `Group ${group}`]] });
      return startNode({ command: APACHE, args: ['-d', dir, '-f', conf, '-DFOREGROUND'] });
    },
  },
  {
    name: 'lighttpd 1.4 with mod_fastcgi (examples/lighttpd.conf)',
    skip: lighttpdSkip,
    start({ dir, port, socket }) {
      const conf = render('lighttpd.conf', { dir, port, socket, replacements: [['/tmp/fcgi-lighttpd', dir]] });
      return startNode({ command: LIGHTTPD, args: ['-D', '-f', conf] });
    },
  },
];

for (const recipe of RECIPES) {
  test(`${recipe.name}: answers, and a HUP under a request loop loses nothing`, { skip: recipe.skip }, async () => {
    const dir = tempDir();
    fs.chmodSync(dir, 0o755);
    const socket = path.join(dir, 'fcgi.sock');
    // The socket's group lets the web server's user connect, as the recipe says.
    const { group } = apacheUser();
    const statusSocket = path.join(dir, 'status.sock');
    const pm = await startHello({ n: 2, env: { FCGI_LISTEN: socket, PM_LISTEN_GROUP: process.getuid() === 0 ? group : '', PM_RELOAD_WARMUP: '0.2', PM_STATUS_LISTEN: statusSocket } });
    const port = await freePort();
    const web = recipe.start({ dir, port, socket });
    try {
      assert.ok(await eventually(() => get(port).then((r) => r.status === 200), 10_000), `answers: ${(await get(port)).body.slice(0, 200)} ${web.lines.join(' ')}`);
      const results = [];
      let stop = false;
      const deadline = Date.now() + 30_000;
      const loops = Array.from({ length: 3 }, async () => {
        for (let i = 0; i < 2_000 && !stop && Date.now() < deadline; i++) results.push(await get(port));
      });
      await eventually(() => results.length >= 50, 10_000);
      const before = livePids(pm);
      pm.kill('SIGHUP');
      await pm.waitFor(/reload complete: generation 2/, 20_000);
      const afterReload = results.length;
      await eventually(() => results.length >= afterReload + 50, 10_000);
      stop = true;
      await Promise.all(loops);
      // `reload complete` comes once the old workers are told to stop; each exits after its last answer.
      assert.ok(await eventually(() => livePids(pm).every((pid) => !before.includes(pid)), 10_000), 'every worker was replaced');
      const failed = results.filter((r) => r.status !== 200);
      const errors = recipe.errorLog ? fs.readFileSync(path.join(dir, recipe.errorLog), 'utf8').split('\n').filter((l) => /:error\]/.test(l)) : [];
      assert.equal(failed.length, 0, `${failed.length} of ${results.length} failed: ${failed.slice(0, 3).map((r) => `${r.status} ${r.body.slice(0, 80)}`).join(' | ')}\n${errors.slice(0, 4).join('\n')}`);
      assert.deepEqual(errors, [], 'the web server logged no error');
      const status = JSON.parse((await httpGet(statusSocket, '/status?json')).body);
      // (With a connection per request, one accepted just before the stop and not yet read is handed over too.)
      if (recipe.keepsConnections) assert.ok(status['handed over connections'] > 0, `kept connections were handed over: ${status['handed over connections']}`);
    } finally {
      web.kill('SIGTERM');
      await Promise.race([web.exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      try {
        process.kill(-web.pid, 'SIGKILL');
      } catch {
        // gone
      }
      pm.kill('SIGTERM');
      await pm.exited;
    }
  });
}
