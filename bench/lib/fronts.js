'use strict';
// lighttpd and Apache 2.4 in front of backends, for the fronts phase (nginx is in nginx.js). Each
// runs in the foreground from a config of its own in a subdirectory of the bench's temp dir,
// listens on 127.0.0.1 on a free port, and passes `/<name>/...` to instance <name>'s unix socket
// with a new FastCGI connection per request (lighttpd's mod_fastcgi does not keep backend
// connections; mod_proxy_fcgi's `enablereuse` is off by default). Client keep-alive is each
// server's default: lighttpd's, and Apache's `KeepAlive On`, `MaxKeepAliveRequests 100`.
//
//   lighttpd  one process, mod_fastcgi
//   apache    event MPM, one child with `threads` threads, mod_proxy + mod_proxy_fcgi; started as
//             root it runs that child as an unprivileged user (it refuses root), so the bench dir
//             is made enterable (0711) and the sockets writable (0666) for it

const fs = require('node:fs');
const path = require('node:path');
const processes = require('./processes');
const { httpGet } = require('./http');
const { freePort } = require('./nginx');

const FRONTS = {
  nginx: { id: 'nginx', label: 'nginx (1 worker process)' },
  lighttpd: { id: 'lighttpd', label: 'lighttpd (mod_fastcgi)' },
  apache: { id: 'apache', label: 'Apache 2.4 (mod_proxy_fcgi, event MPM)' },
};

function lighttpdConf({ dir, port, upstreams, errorLog }) {
  const backends = upstreams.map((up) => `  "/${up.name}/" => (( "socket" => "${up.socket}", "check-local" => "disable" ))`);
  return [
    `server.document-root = "${dir}"`,
    'server.bind = "127.0.0.1"',
    `server.port = ${port}`,
    `server.pid-file = "${path.join(dir, 'lighttpd.pid')}"`,
    `server.errorlog = "${errorLog}"`,
    `server.upload-dirs = ( "${dir}" )`,
    'server.modules = ( "mod_fastcgi" )',
    'fastcgi.server = (',
    backends.join(',\n'),
    ')',
  ].join('\n') + '\n';
}

/** The unprivileged user Apache's child runs as when it is started as root. */
function apacheUser() {
  const passwd = fs.readFileSync('/etc/passwd', 'utf8');
  const group = fs.readFileSync('/etc/group', 'utf8');
  const has = (text, name) => new RegExp(`^${name}:`, 'm').test(text);
  if (has(passwd, 'www-data') && has(group, 'www-data')) return { user: 'www-data', group: 'www-data' };
  return { user: 'nobody', group: has(group, 'nogroup') ? 'nogroup' : 'nobody' };
}

function apacheConf({ dir, port, upstreams, errorLog, modules, threads }) {
  const mod = (name) => `LoadModule ${name}_module ${path.join(modules, `mod_${name}.so`)}`;
  const lines = [
    `ServerRoot "${dir}"`,
    'ServerName 127.0.0.1',
    `Listen 127.0.0.1:${port}`,
    `PidFile "${path.join(dir, 'httpd.pid')}"`,
    `DefaultRuntimeDir "${dir}"`,
    `ErrorLog "${errorLog}"`,
    'LogLevel warn',
    mod('mpm_event'),
    mod('authz_core'),
    mod('proxy'),
    mod('proxy_fcgi'),
    'StartServers 1',
    'ServerLimit 1',
    `ThreadsPerChild ${threads}`,
    `MaxRequestWorkers ${threads}`,
    'KeepAlive On',
    'MaxKeepAliveRequests 100',
    'KeepAliveTimeout 5',
    `DocumentRoot "${dir}"`,
    '<Location "/">',
    '  Require all granted',
    '</Location>',
  ];
  // One host name per backend: Apache tells its proxy workers apart by URL.
  for (const up of upstreams) lines.push(`ProxyPass "/${up.name}/" "unix:${up.socket}|fcgi://${up.name}/"`);
  if (process.getuid?.() === 0) {
    const { user, group } = apacheUser();
    lines.push(`User ${user}`, `Group ${group}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Starts front `kind` ('lighttpd' or 'apache') in front of `upstreams` ([{ name, socket }]) and
 * resolves once `/<first name>/` answers 200 through it. `peers` has the binaries (peers.js).
 */
async function startFront(kind, { peers, dir: benchDir, upstreams, threads = 32 }) {
  const dir = path.join(benchDir, `front-${kind}`);
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const errorLog = path.join(dir, 'error.log');
  const conf = path.join(dir, `${kind}.conf`);
  let proc;
  if (kind === 'lighttpd') {
    fs.writeFileSync(conf, lighttpdConf({ dir, port, upstreams, errorLog }));
    proc = processes.start('lighttpd', peers.lighttpd, ['-D', '-f', conf]);
  } else if (kind === 'apache') {
    if (process.getuid?.() === 0) {
      fs.chmodSync(benchDir, 0o711);
      fs.chmodSync(dir, 0o755);
      for (const up of upstreams) fs.chmodSync(up.socket, 0o666);
    }
    fs.writeFileSync(conf, apacheConf({ dir, port, upstreams, errorLog, modules: peers.apacheModules, threads }));
    proc = processes.start('apache', peers.apache, ['-d', dir, '-f', conf, '-DFOREGROUND']);
  } else {
    throw new Error(`unknown front ${kind}`);
  }
  const base = `http://127.0.0.1:${port}`;
  const url = (name) => `${base}/${name}/`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await httpGet(url(upstreams[0].name), { timeoutMs: 1_000 });
    if (res.status === 200) break;
    if (proc.exit || Date.now() > deadline) {
      await processes.stop(proc);
      throw new Error(`${kind} did not answer through to ${upstreams[0].name}: ${[...proc.lines.slice(-5), readTail(errorLog)].join(' | ')}`);
    }
    await processes.sleep(50);
  }
  return { kind, proc, port, base, url, errorLog };
}

function readTail(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '';
  }
}

module.exports = { FRONTS, startFront, lighttpdConf, apacheConf };
