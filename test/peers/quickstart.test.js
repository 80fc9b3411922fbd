'use strict';
// The README's quick start, as written: its commands (the npx one, and the production one that runs
// the bin) and its nginx `location` line, behind nginx running its worker as www-data, as Debian's
// does. Only /run/app is moved to a temporary folder, and the install is this checkout.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, tempDir, startNode, freePort, eventually, httpGet, have, skipWithout } = require('../helpers/helpers');
const { NGINX } = require('../helpers/webservers');

const isRoot = process.getuid?.() === 0;
const hasWww = /^www-data:/m.test(fs.readFileSync('/etc/passwd', 'utf8'));
const skip = skipWithout(isRoot && hasWww && NGINX && have('npx'), 'needs root, the www-data account, nginx and npx');

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const QUICK_START = README.split('## Quick start')[1].split('\n## ')[0];
const COMMANDS = /```sh\n([\s\S]*?)```/.exec(QUICK_START)[1].split('\n');
const NPX_LINE = COMMANDS.find((l) => l.startsWith('npx fcgi-pm '));
const PRODUCTION_LINE = /\*\*In production, run the bin, not `npx`:\*\* `([^`]+)`/.exec(QUICK_START.replace(/\n/g, ' '))?.[1];
const LOCATION = /`(location \/ \{[^`]+\})`/.exec(QUICK_START)?.[1];

/** An app folder where fcgi-procmanager is installed (this checkout), with the fixture app as app.js. */
function project() {
  const dir = tempDir();
  fs.chmodSync(dir, 0o755); // as a folder under /srv or /home is: nginx's www-data searches it
  fs.cpSync(path.join(__dirname, '..', 'fixtures', 'cli-app'), dir, { recursive: true });
  const modules = path.join(dir, 'node_modules');
  fs.mkdirSync(path.join(modules, '.bin'), { recursive: true });
  fs.symlinkSync(ROOT, path.join(modules, 'fcgi-procmanager'));
  for (const name of ['node-fastcgi', 'fastcgi-stream', 'bufferlist']) fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(modules, name));
  fs.symlinkSync(path.join(ROOT, 'bin', 'fcgi-pm.js'), path.join(modules, '.bin', 'fcgi-pm'));
  return dir;
}

/** nginx with `user www-data`, and the README's location line in its server. */
async function nginxAsWwwData(runDir) {
  const dir = tempDir();
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const conf = `user www-data;
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}; fastcgi_temp_path ${dir}; proxy_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${port};
    ${LOCATION.replaceAll('/run/app', runDir).replace('include fastcgi_params;', 'include /etc/nginx/fastcgi_params;')}
  }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const proc = startNode({ command: NGINX, args: ['-p', dir, '-c', path.join(dir, 'nginx.conf')] });
  assert.ok(await eventually(async () => (await httpGet(port, '/')).status !== 0, 10_000), 'nginx answers');
  return { proc, port, errorLog: () => fs.readFileSync(path.join(dir, 'error.log'), 'utf8') };
}

for (const [name, line] of [['npx', NPX_LINE], ['production', PRODUCTION_LINE]]) {
  test(`the README's quick start (${name} command) answers through Debian-style nginx as www-data`, { skip }, async () => {
    assert.ok(line && LOCATION, `the quick start has the ${name} command and the nginx location line`);
    const app = project();
    const runDir = path.join(tempDir(), 'run', 'app');
    fs.chmodSync(path.dirname(path.dirname(runDir)), 0o755);
    fs.mkdirSync(runDir, { recursive: true }); // the quick start's mkdir -p /run/app
    const [command, ...args] = line.replaceAll('/run/app', runDir).split(/\s+/);
    const pm = startNode({ command: command === 'npx' ? 'npx' : path.join(app, command), args, cwd: app });
    try {
      await pm.waitFor(/ready: \d+ servers? accepting/, 30_000);
      const web = await nginxAsWwwData(runDir);
      try {
        const answer = await httpGet(web.port, '/');
        assert.equal(answer.status, 200, `${answer.body}\n${web.errorLog()}`);
        assert.match(answer.body, /^pid=\d+\n$/);
        assert.doesNotMatch(web.errorLog(), /Permission denied/);
      } finally {
        web.proc.kill('SIGQUIT');
        await web.proc.exited;
      }
    } finally {
      // Production: TERM to the manager itself; npx: to npm, which the manager notices.
      pm.kill('SIGTERM');
      await pm.exited;
    }
  });
}
