'use strict';
// nginx in front of every backend: one server, one location per backend and connection mode.
//
//   /nginx                    `return 200` (nginx's own ceiling)
//   /plain/<name>             fastcgi_pass unix:<socket>, a new connection per request
//   /keep/<name>              an upstream with a keepalive pool and fastcgi_keep_conn on
//   /plain-log/<name>, /keep-log/<name>   the same, with one access-log line per request
//                             ($msec and $request_time) to find the latency around a reload, and
//                             the answering worker's X-Pid header (the spread phase)
//
// A backend listens on a unix socket (a path) or, where the phase asks for TCP, on 127.0.0.1:port.

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const processes = require('./processes');
const { httpGet } = require('./http');

const MODES = ['plain', 'keep'];

/** Params every backend gets; SCRIPT_FILENAME is set per backend (PHP needs it). */
const FASTCGI_PARAMS = [
  ['QUERY_STRING', '$query_string'],
  ['REQUEST_METHOD', '$request_method'],
  ['CONTENT_TYPE', '$content_type'],
  ['CONTENT_LENGTH', '$content_length'],
  ['SCRIPT_NAME', '$fastcgi_script_name'],
  ['REQUEST_URI', '$request_uri'],
  ['DOCUMENT_URI', '$document_uri'],
  ['SERVER_PROTOCOL', '$server_protocol'],
  ['GATEWAY_INTERFACE', 'CGI/1.1'],
  ['SERVER_SOFTWARE', 'nginx'],
  ['REMOTE_ADDR', '$remote_addr'],
  ['REMOTE_PORT', '$remote_port'],
  ['SERVER_ADDR', '$server_addr'],
  ['SERVER_PORT', '$server_port'],
  ['SERVER_NAME', '$server_name'],
];

/**
 * The nginx.conf text. `upstreams` is a list of { name, socket, script?, keepalive }, where
 * `keepalive` is the size of that upstream's idle connection pool (see context.js).
 */
function nginxConf({ dir, port, upstreams, runAsRoot = process.getuid?.() === 0 }) {
  const tmp = path.join(dir, 'nginx-tmp');
  const lines = [];
  const out = (s = '') => lines.push(s);
  // Started as root, nginx runs its workers as nobody, who may not enter the bench's 0700 temp
  // dir to reach the sockets. (Started as another user, nginx ignores `user` and keeps its own.)
  if (runAsRoot) out('user root;');
  out('worker_processes 1;');
  out('daemon off;');
  out(`pid ${path.join(dir, 'nginx.pid')};`);
  out(`error_log ${path.join(dir, 'nginx-error.log')} warn;`);
  out('events { worker_connections 4096; }');
  out('http {');
  out('    access_log off;');
  out("    log_format bench '$msec $status $request_time $upstream_http_x_pid';");
  for (const kind of ['client_body', 'fastcgi', 'proxy', 'uwsgi', 'scgi']) out(`    ${kind}_temp_path ${tmp};`);
  for (const up of upstreams) {
    out(`    upstream pool_${up.name} { server ${upstreamAddress(up.socket)}; keepalive ${up.keepalive}; }`);
  }
  out('    server {');
  out(`        listen 127.0.0.1:${port} backlog=4096;`);
  out('        location = /nginx { default_type text/plain; return 200 "hello"; }');
  for (const up of upstreams) {
    for (const mode of MODES) {
      for (const logged of [false, true]) {
        out(`        location /${mode}${logged ? '-log' : ''}/${up.name} {`);
        if (logged) out(`            access_log ${accessLogPath(dir, up.name, mode)} bench;`);
        for (const [k, v] of FASTCGI_PARAMS) out(`            fastcgi_param ${k} ${v};`);
        out(`            fastcgi_param SCRIPT_FILENAME ${up.script ?? '/dev/null'};`);
        if (mode === 'keep') {
          out('            fastcgi_keep_conn on;');
          out(`            fastcgi_pass pool_${up.name};`);
        } else {
          out(`            fastcgi_pass ${upstreamAddress(up.socket)};`);
        }
        out('        }');
      }
    }
  }
  out('    }');
  out('}');
  return lines.join('\n') + '\n';
}

/** nginx's form of a backend's address: `unix:` before a socket path, a TCP host:port as it is. */
function upstreamAddress(address) {
  return address.startsWith('/') ? `unix:${address}` : address;
}

function accessLogPath(dir, name, mode) {
  return path.join(dir, `access-${mode}-${name}.log`);
}

/** A free TCP port on 127.0.0.1 (bound once and released; nginx binds it right after). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Writes the conf and starts nginx in the foreground; resolves once it answers. */
async function startNginx({ bin, dir, upstreams }) {
  const port = await freePort();
  fs.mkdirSync(path.join(dir, 'nginx-tmp'), { recursive: true });
  const confPath = path.join(dir, 'nginx.conf');
  fs.writeFileSync(confPath, nginxConf({ dir, port, upstreams }));
  const errorLog = path.join(dir, 'nginx-error.log');
  // -e: nginx opens its default error log before reading the conf; point it into the temp dir.
  const proc = processes.start('nginx', bin, ['-p', dir, '-c', confPath, '-e', errorLog]);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await httpGet(`${base}/nginx`, { timeoutMs: 1_000 });
    if (res.status === 200) break;
    if (proc.exit || Date.now() > deadline) {
      throw new Error(`nginx did not start: ${proc.lines.slice(-5).join(' | ') || readTail(errorLog)}`);
    }
    await processes.sleep(50);
  }
  return {
    proc,
    port,
    base,
    dir,
    errorLog,
    url: (mode, name, logged = false) => `${base}/${mode}${logged ? '-log' : ''}/${name}`,
    accessLog: (mode, name) => accessLogPath(dir, name, mode),
  };
}

function readTail(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '';
  }
}

/** Byte size of a file (0 if missing): remember it to read only what was appended later. */
function fileSize(file) {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** The text appended to `file` since it had `offset` bytes. */
function readSince(file, offset) {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.max(0, size - offset));
      fs.readSync(fd, buf, 0, buf.length, offset);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/**
 * Error-log lines by level, e.g. { error: 3, warn: 1 }, with up to 3 samples. `failures` counts
 * the lines at level error or worse, except "FastCGI sent in stderr": that is the backend's own
 * stderr output (Perl's workers log "safe exit after SIGTERM" into the request they just
 * answered), not a failed request; those are counted as `stderr`.
 */
function countErrorLines(text) {
  const levels = {};
  const samples = [];
  let failures = 0;
  let stderr = 0;
  for (const line of text.split('\n')) {
    const m = /\[(emerg|alert|crit|error|warn|notice|info)\]/.exec(line);
    if (!m) continue;
    levels[m[1]] = (levels[m[1]] ?? 0) + 1;
    if (/FastCGI sent in stderr/.test(line)) stderr++;
    else if (['emerg', 'alert', 'crit', 'error'].includes(m[1])) failures++;
    if (samples.length < 3) samples.push(line.replace(/^\S+ \S+ /, '').slice(0, 240));
  }
  return { levels, failures, stderr, samples };
}

module.exports = { nginxConf, startNginx, freePort, fileSize, readSince, countErrorLines, MODES };
