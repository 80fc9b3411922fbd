'use strict';
// Real web servers in front of a FastCGI unix socket, for tests: lighttpd (mod_fastcgi) and Apache
// 2.4 (mod_proxy + mod_proxy_fcgi), each in the foreground with a config of its own in a fresh
// temporary directory, listening on 127.0.0.1 on a free port (never 80). Every process is started
// through helpers.startNode (its own process group, killed when the test file ends) and stopped by
// pid with stop().

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const helpers = require('./helpers');

const { startNode, tempDir, freePort, eventually } = helpers;
// As the other peers' tests: skipped when missing, or failing where .ci/run requires the peers
// (FCGI_PM_REQUIRE_PEERS=1).
const { skipWithout } = helpers;

const LIGHTTPD = ['/usr/sbin/lighttpd', '/usr/bin/lighttpd', '/usr/local/sbin/lighttpd'].find((p) => fs.existsSync(p));
const APACHE = ['/usr/sbin/apache2', '/usr/sbin/httpd', '/usr/local/apache2/bin/httpd'].find((p) => fs.existsSync(p));
const APACHE_MODULES = ['/usr/lib/apache2/modules', '/usr/lib64/httpd/modules', '/usr/lib/httpd/modules', '/usr/local/apache2/modules'].find((dir) =>
  fs.existsSync(path.join(dir, 'mod_proxy_fcgi.so')),
);

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));

const nginxSkip = skipWithout(NGINX, 'nginx is not installed (Debian package nginx-light)');
const lighttpdSkip = skipWithout(LIGHTTPD, 'lighttpd is not installed (Debian package lighttpd)');
const apacheSkip = skipWithout(APACHE && APACHE_MODULES, 'Apache 2.4 with mod_proxy_fcgi is not installed (Debian package apache2)');

/** The unprivileged user Apache's children run as when it is started as root (it refuses root). */
function apacheUser() {
  const passwd = fs.readFileSync('/etc/passwd', 'utf8');
  const group = fs.readFileSync('/etc/group', 'utf8');
  const has = (text, name) => new RegExp(`^${name}:`, 'm').test(text);
  if (has(passwd, 'www-data') && has(group, 'www-data')) return { user: 'www-data', group: 'www-data' };
  return { user: 'nobody', group: has(group, 'nogroup') ? 'nogroup' : 'nobody' };
}

/**
 * Lets a web server running as another user connect to the unix socket `socketPath`: the directory
 * can be entered (not listed) and the socket written, as a deployment grants the web server's group.
 */
function openSocketTo(socketPath) {
  fs.chmodSync(path.dirname(socketPath), 0o711);
  fs.chmodSync(socketPath, 0o666);
}

/** lighttpd in front of `socketPath`: every URL goes to the FastCGI app (a new connection per request). */
function lighttpdConf({ dir, port, socketPath }) {
  return `server.document-root = "${dir}"
server.bind = "127.0.0.1"
server.port = ${port}
server.pid-file = "${path.join(dir, 'lighttpd.pid')}"
server.upload-dirs = ( "${dir}" )
server.modules = ( "mod_fastcgi" )
fastcgi.server = ( "/" => (( "socket" => "${socketPath}", "check-local" => "disable" )) )
`;
}

/** Apache 2.4 (event MPM, one child) in front of `socketPath` with ProxyPass to fcgi over the unix socket. */
function apacheConf({ dir, port, socketPath }) {
  const mod = (name) => `LoadModule ${name}_module ${path.join(APACHE_MODULES, `mod_${name}.so`)}`;
  const lines = [
    `ServerRoot "${dir}"`,
    'ServerName 127.0.0.1',
    `Listen 127.0.0.1:${port}`,
    `PidFile "${path.join(dir, 'httpd.pid')}"`,
    `DefaultRuntimeDir "${dir}"`,
    // A file: its stderr is a socket (node's stdio pipe), which Apache cannot open as /dev/stderr.
    `ErrorLog "${path.join(dir, 'error.log')}"`,
    'LogLevel warn',
    mod('mpm_event'),
    mod('authz_core'),
    mod('proxy'),
    mod('proxy_fcgi'),
    'StartServers 1',
    'ServerLimit 1',
    'ThreadsPerChild 16',
    'MaxRequestWorkers 16',
    'MinSpareThreads 1', // as examples/apache.conf: no AH10159 under load
    'MaxSpareThreads 32',
    'KeepAlive On',
    `DocumentRoot "${dir}"`,
    '<Location "/">',
    '  Require all granted',
    '</Location>',
    `ProxyPass "/" "unix:${socketPath}|fcgi://localhost/"`,
  ];
  // Started as root, Apache must switch its children to another user (it refuses to serve as root).
  if (process.getuid?.() === 0) {
    const { user, group } = apacheUser();
    lines.push(`User ${user}`, `Group ${group}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * nginx in front of `socketPath` (or a TCP `host:port`), keeping its FastCGI connections (fastcgi_keep_conn, keepalive 8).
 * Started as root, its worker runs as `user` (root unless told otherwise).
 */
function nginxConf({ dir, port, socketPath, user = 'root' }) {
  return `${process.getuid?.() === 0 ? `user ${user};` : ''}
worker_processes 1;
daemon off;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} info;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}; fastcgi_temp_path ${dir}; proxy_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  upstream app {
    server ${/^[\d.]+:\d+$/.test(socketPath) ? socketPath : `unix:${socketPath}`};
    keepalive 8;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_pass app;
      fastcgi_keep_conn on;
    }
  }
}
`;
}

/**
 * Starts `kind` ('nginx', 'lighttpd' or 'apache') in front of the FastCGI unix socket `socketPath` and waits
 * until it answers HTTP. Resolves with { kind, proc, port, errorLog(), stop() }. `user`: nginx's worker's
 * user when started as root.
 */
async function startWebServer(kind, socketPath, { user } = {}) {
  const dir = tempDir();
  const port = await freePort();
  const conf = path.join(dir, `${kind}.conf`);
  let proc;
  if (kind === 'nginx') {
    fs.writeFileSync(conf, nginxConf({ dir, port, socketPath, user }));
    proc = startNode({ command: NGINX, args: ['-p', dir, '-c', conf] });
  } else if (kind === 'lighttpd') {
    fs.writeFileSync(conf, lighttpdConf({ dir, port, socketPath }));
    proc = startNode({ command: LIGHTTPD, args: ['-D', '-f', conf] });
  } else if (kind === 'apache') {
    openSocketTo(socketPath);
    fs.writeFileSync(conf, apacheConf({ dir, port, socketPath }));
    proc = startNode({ command: APACHE, args: ['-d', dir, '-f', conf, '-DFOREGROUND'] });
  } else {
    throw new Error(`unknown web server ${kind}`);
  }
  const server = {
    kind,
    proc,
    port,
    /** The web server's error log, line by line. */
    errorLog: () => readOr(path.join(dir, 'error.log')).split('\n').filter(Boolean),
    /** TERM to its pid, then KILL to its process group if it has not exited within 5 s. */
    async stop() {
      const exited = await Promise.race([proc.exited, (signal(proc.pid, 'SIGTERM'), timeout(5_000))]);
      if (!exited) signal(-proc.pid, 'SIGKILL');
      await Promise.race([proc.exited, timeout(2_000)]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  let exited = false;
  proc.exited.then(() => (exited = true));
  // Up once it answers HTTP as itself (not some other process that took the port meanwhile).
  const serverHeader = { nginx: /nginx/, lighttpd: /lighttpd/, apache: /Apache/ }[kind];
  const up = await eventually(async () => exited || serverHeader.test((await probe(port)) ?? ''), 10_000);
  if (!up || exited) {
    const output = [...proc.lines, readOr(path.join(dir, 'error.log'))].join('\n');
    await server.stop();
    throw new Error(`${kind} did not start on 127.0.0.1:${port}; its output:\n${output}`);
  }
  return server;
}

/** The Server header of a GET / on a new connection, or undefined if nothing answers. */
function probe(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.headers.server ?? '')));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

function readOr(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function timeout(ms) {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}

/**
 * GETs `urlPath` from 127.0.0.1:`port` through `agent`. Resolves with { status, headers, body,
 * reusedSocket, socket }: `reusedSocket` is node:http's own flag that the request went out on a
 * connection kept from an earlier request. A keep-alive agent sends `Connection: keep-alive`, as
 * browsers do; with `connectionHeader: false` the request has no Connection header and relies on
 * HTTP/1.1's default persistence, as curl and wrk do.
 */
function get(agent, port, urlPath = '/', { connectionHeader = true } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body, reusedSocket: req.reusedSocket, socket: req.socket }));
    });
    // Marks the agent's implicit header removed: none is sent, and the connection is still kept.
    if (!connectionHeader) req.removeHeader('connection');
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

module.exports = { NGINX, LIGHTTPD, APACHE, APACHE_MODULES, apacheUser, nginxSkip, lighttpdSkip, apacheSkip, startWebServer, get, nginxConf, lighttpdConf, apacheConf };
