'use strict';
// The one application every Node backend serves, so that only the process model differs.
//
// Answers `Content-Type: text/plain` and `hello`. Query (only parsed when there is one, as the
// Perl and PHP apps do): `pid` answers `pid=<pid>` (used to see which worker answered),
// `sleep=S` answers after S seconds without blocking the worker.

// The FastCGI library exactly as the project resolves it at run time.
const fcgi = require('node-fastcgi');

function createHelloServer() {
  return fcgi.createServer((req, res) => {
    const q = req.url.indexOf('?');
    if (q < 0) return reply(res, 'hello');
    const query = new URLSearchParams(req.url.slice(q + 1));
    const body = query.has('pid') ? `pid=${process.pid}\n` : 'hello';
    if (query.has('sleep')) setTimeout(() => reply(res, body), Number(query.get('sleep')) * 1000);
    else reply(res, body);
  });
}

function reply(res, body) {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
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
