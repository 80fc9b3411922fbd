'use strict';
// The one application every Node backend serves, so that only the process model differs.
//
// Answers `Content-Type: text/plain` and `hello`. Query (only parsed when there is one, as the
// Perl and PHP apps do): `pid` answers `pid=<pid>` and the header `X-Pid: <pid>` (which worker
// answered; nginx can log the header),
// `sleep=S` answers after S seconds without blocking the worker.

// The FastCGI library exactly as the project resolves it at run time.
const fcgi = require('node-fastcgi');

function createHelloServer() {
  return fcgi.createServer((req, res) => {
    const q = req.url.indexOf('?');
    if (q < 0) return reply(res, 'hello');
    const query = new URLSearchParams(req.url.slice(q + 1));
    const pid = query.has('pid');
    const body = pid ? `pid=${process.pid}\n` : 'hello';
    if (query.has('sleep')) setTimeout(() => reply(res, body, pid), Number(query.get('sleep')) * 1000);
    else reply(res, body, pid);
  });
}

const PLAIN = { 'Content-Type': 'text/plain' };

function reply(res, body, pid) {
  res.writeHead(200, pid ? { ...PLAIN, 'X-Pid': String(process.pid) } : PLAIN);
  res.end(body);
}

/** The socket path an app listens on: its first argument. */
function socketArg() {
  const path = process.argv[2];
  if (!path) {
    console.error(`usage: node ${process.argv[1]} SOCKET_PATH`);
    process.exit(2);
  }
  return path;
}

module.exports = { createHelloServer, socketArg };
