'use strict';
// A raw FastCGI client for tests: it builds records byte by byte (its own encoder, independent of
// src/fastcgi), sends exactly the bytes a test asks for, and parses every record that comes back,
// so a test can see what a server writes and in which order, including what comes after
// FCGI_END_REQUEST and how the connection ends.

const net = require('node:net');

const TYPE = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
};
const TYPE_NAME = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));
const ROLE = { RESPONDER: 1, AUTHORIZER: 2, FILTER: 3 };
const STATUS = { REQUEST_COMPLETE: 0, CANT_MPX_CONN: 1, OVERLOADED: 2, UNKNOWN_ROLE: 3 };

/** One record: 8-byte header, content, `padding` zero bytes. */
function record(type, requestId, content = Buffer.alloc(0), padding = 0) {
  const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
  if (body.length > 0xffff) throw new RangeError('record content too long');
  const header = Buffer.from([1, type, requestId >> 8, requestId & 0xff, body.length >> 8, body.length & 0xff, padding, 0]);
  return Buffer.concat([header, body, Buffer.alloc(padding)]);
}

function beginRequest(requestId, { role = ROLE.RESPONDER, keepConn = false } = {}) {
  return record(TYPE.BEGIN_REQUEST, requestId, Buffer.from([role >> 8, role & 0xff, keepConn ? 1 : 0, 0, 0, 0, 0, 0]));
}

function nameValuePairs(pairs) {
  const parts = [];
  for (const [name, value] of Object.entries(pairs)) {
    const n = Buffer.from(name);
    const v = Buffer.from(String(value));
    for (const len of [n.length, v.length]) {
      if (len < 128) parts.push(Buffer.from([len]));
      else {
        const b = Buffer.alloc(4);
        b.writeUInt32BE((len | 0x80000000) >>> 0);
        parts.push(b);
      }
    }
    parts.push(n, v);
  }
  return Buffer.concat(parts);
}

/** A stream's records: `data` cut into records of at most `size` bytes, then the empty record. */
function streamRecords(type, requestId, data = Buffer.alloc(0), size = 0xffff) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const out = [];
  for (let at = 0; at < buf.length; at += size) out.push(record(type, requestId, buf.subarray(at, at + size)));
  out.push(record(type, requestId));
  return Buffer.concat(out);
}

const DEFAULT_PARAMS = {
  REQUEST_METHOD: 'GET',
  SCRIPT_NAME: '/',
  REQUEST_URI: '/',
  QUERY_STRING: '',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REMOTE_ADDR: '127.0.0.1',
};

/** A whole request: BEGIN_REQUEST, PARAMS (with the empty record), STDIN (with the empty record). */
function request(requestId, { keepConn = false, role, params = {}, stdin = '', stdinEnd = true } = {}) {
  const parts = [
    beginRequest(requestId, { role, keepConn }),
    streamRecords(TYPE.PARAMS, requestId, nameValuePairs({ ...DEFAULT_PARAMS, ...params })),
  ];
  if (stdinEnd) parts.push(streamRecords(TYPE.STDIN, requestId, stdin));
  return Buffer.concat(parts);
}

function getValues(names) {
  return record(TYPE.GET_VALUES, 0, nameValuePairs(Object.fromEntries(names.map((n) => [n, '']))));
}

function parseNameValuePairs(buf) {
  const out = {};
  let at = 0;
  const len = () => {
    const b = buf[at];
    if (b < 128) return (at++, b);
    const v = buf.readUInt32BE(at) & 0x7fffffff;
    at += 4;
    return v;
  };
  while (at < buf.length) {
    const n = len();
    const v = len();
    out[buf.toString('utf8', at, at + n)] = buf.toString('utf8', at + n, at + n + v);
    at += n + v;
  }
  return out;
}

/**
 * A connection to a FastCGI server. `records` fills as records arrive; `finReceived` turns true at
 * the server's FIN; `ended` resolves when the socket is closed, with how: { how: 'fin' | 'closed' |
 * 'reset' | 'error', code }.
 */
class RawConnection {
  /** With `countStdout`, FCGI_STDOUT content is counted in `stdoutBytes[id]` instead of kept. */
  static open(address, { countStdout = false } = {}) {
    return new Promise((resolve, reject) => {
      const target = typeof address === 'string' && !/^[\d.]+:\d+$/.test(address) ? { path: address } : parseHostPort(address);
      // Half-open allowed, as cgi-fcgi and nginx do: the server's FIN does not end our side.
      const socket = net.connect({ ...target, allowHalfOpen: true }, () => resolve(new RawConnection(socket, countStdout)));
      socket.once('error', reject);
    });
  }

  constructor(socket, countStdout = false) {
    this.socket = socket;
    this.countStdout = countStdout;
    this.stdoutBytes = {};
    this.records = [];
    this.bytesReceived = 0;
    this.pending = Buffer.alloc(0);
    this.waiters = [];
    this.writeErrors = [];
    this.endedState = undefined;
    /** The server sent FIN (it may still read what we send). */
    this.finReceived = false;
    this.ended = new Promise((resolve) => {
      let finSeen = false;
      socket.on('end', () => {
        finSeen = this.finReceived = true;
        this.notify();
      });
      socket.on('error', (err) => {
        this.writeErrors.push(err.code);
        this.endedState ??= { how: err.code === 'ECONNRESET' ? 'reset' : 'error', code: err.code };
      });
      socket.on('close', () => {
        this.endedState ??= finSeen ? { how: 'fin' } : { how: 'closed' };
        resolve(this.endedState);
        this.notify();
      });
    });
    socket.on('data', (chunk) => this.onData(chunk));
  }

  onData(chunk) {
    this.bytesReceived += chunk.length;
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (buf.length >= 8) {
      const length = buf.readUInt16BE(4);
      const total = 8 + length + buf[6];
      if (buf.length < total) break;
      const requestId = buf.readUInt16BE(2);
      if (this.countStdout && buf[1] === TYPE.STDOUT && length > 0) {
        this.stdoutBytes[requestId] = (this.stdoutBytes[requestId] ?? 0) + length;
      } else {
        const content = Buffer.from(buf.subarray(8, 8 + length));
        this.records.push({ version: buf[0], type: buf[1], typeName: TYPE_NAME[buf[1]] ?? `type ${buf[1]}`, requestId, content });
      }
      buf = buf.subarray(total);
    }
    this.pending = Buffer.from(buf);
    this.notify();
  }

  notify() {
    this.waiters = this.waiters.filter((w) => (w.check() ? (w.resolve(), false) : true));
  }

  /** Sends bytes; resolves once they are handed to the kernel (or with the write error's code). */
  write(bytes) {
    return new Promise((resolve) => {
      this.socket.write(bytes, (err) => resolve(err ? err.code : undefined));
    });
  }

  /** Resolves when `predicate(this)` holds (checked as records arrive and at close); rejects on timeout. */
  until(predicate, timeoutMs = 10_000, what = 'condition') {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${what}; got ${this.describe()}`));
      }, timeoutMs);
      const waiter = { check: () => predicate(this), resolve: () => (clearTimeout(timer), resolve()) };
      this.waiters.push(waiter);
    });
  }

  /** Waits for FCGI_END_REQUEST of `requestId` and returns that request's answer. */
  async response(requestId, timeoutMs = 10_000) {
    await this.until((c) => c.endOf(requestId) !== undefined || c.endedState !== undefined, timeoutMs, `FCGI_END_REQUEST ${requestId}`);
    return this.answer(requestId);
  }

  endOf(requestId) {
    return this.records.find((r) => r.type === TYPE.END_REQUEST && r.requestId === requestId);
  }

  /** Everything received for `requestId`: stdout, stderr, its END_REQUEST, and the records after it. */
  answer(requestId) {
    const mine = this.records.filter((r) => r.requestId === requestId);
    const endIndex = mine.findIndex((r) => r.type === TYPE.END_REQUEST);
    const before = endIndex < 0 ? mine : mine.slice(0, endIndex);
    const end = endIndex < 0 ? undefined : mine[endIndex];
    const stdout = Buffer.concat(before.filter((r) => r.type === TYPE.STDOUT).map((r) => r.content));
    const text = stdout.toString('latin1');
    const split = text.indexOf('\r\n\r\n');
    return {
      stdout,
      head: split < 0 ? text : text.slice(0, split),
      body: split < 0 ? '' : text.slice(split + 4),
      status: Number(/^Status: (\d+)/m.exec(text)?.[1]) || undefined,
      stderr: Buffer.concat(before.filter((r) => r.type === TYPE.STDERR).map((r) => r.content)).toString(),
      stdoutClosed: before.some((r) => r.type === TYPE.STDOUT && r.content.length === 0),
      end: end && { appStatus: end.content.readUInt32BE(0), protocolStatus: end.content[4] },
      afterEnd: endIndex < 0 ? [] : mine.slice(endIndex + 1),
    };
  }

  describe() {
    const types = this.records.map((r) => `${r.typeName}#${r.requestId}(${r.content.length})`);
    return `${types.slice(-12).join(' ')}${types.length > 12 ? ` (${types.length} records)` : ''}; FIN: ${this.finReceived}; ended: ${JSON.stringify(this.endedState)}`;
  }

  close() {
    this.socket.destroy();
  }
}

function parseHostPort(address) {
  const m = /^(.*):(\d+)$/.exec(String(address));
  return { host: m[1], port: Number(m[2]) };
}

// ---- The test application the client talks to ------------------------------------------------
//
// `node test/helpers/fcgi-raw-client.js --serve <mode> <socket path> [n_processes]` runs one node-fastcgi app:
//   as-is       node-fastcgi alone (`fcgi.createServer(...).listen(path)`), none of this library;
//   pool        under ProcManager with attach(server): the worker path;
//   pool-as-is  under ProcManager with attach(server, { fastcgi: 'as-is' }).
// Env: FCGI_TEST_MULTIPLEX=0 (createServer's multiplex: false), FCGI_TEST_MAX_REQS, FCGI_TEST_MAX_CONNS,
// FCGI_TEST_KEEP_CONN_ALIAS=1 (see below), FCGI_TEST_ROLES=1 (an authorizer and a filter too),
// FCGI_TEST_TIMEOUT_MS=MS (server.setTimeout(MS): an idle connection times out and, unhandled, is
// closed), FCGI_TEST_LOG_REQUESTS=1 (a line `request started: <url> (pid <pid>)` on stderr as each responder
// request reaches the application, for a test to wait on instead of sleeping).
// Query: answer=K answer case K of fixtures/answer-cases.js; secret=1 answer SECRET_LINE repeated; echo=1 answer with what the app sees of the request (JSON); sleep=S answer after S s (at most 5); stderr=TEXT write TEXT to res.stderr first; bytes=N
// stream N bytes (64 KiB chunks, with backpressure; at most 100 MiB); body=1 read the whole body and
// answer its length and checksum (body=slow: reading 1 MiB per 20 ms; body=later&wait=S: reading
// nothing for S seconds first).
// Every answer's body starts `pid=<pid> conns=<connections this process accepted> onconn=<requests
// on this connection so far, this one included>`.

function serveTestApp(mode, socketPath, n) {
  const fcgi = require('node-fastcgi');
  const { Readable } = require('node:stream');
  const { answerCase, answerSecret } = require('../fixtures/answer-cases');
  // FCGI_TEST_KEEP_CONN_ALIAS=1 corrects only node-fastcgi's misspelt flag name (defect 1) in the
  // as-is app, which exposes what it does next on a kept connection.
  if (process.env.FCGI_TEST_KEEP_CONN_ALIAS === '1') require('fastcgi-stream').records.BeginRequest.flags.KEEP_CONN = 1;
  const config = {};
  if (process.env.FCGI_TEST_MULTIPLEX === '0') config.multiplex = false;
  if (process.env.FCGI_TEST_MAX_REQS) config.maxReqs = Number(process.env.FCGI_TEST_MAX_REQS);
  if (process.env.FCGI_TEST_MAX_CONNS) config.maxConns = Number(process.env.FCGI_TEST_MAX_CONNS);
  const logRequests = process.env.FCGI_TEST_LOG_REQUESTS === '1';
  // FCGI_TEST_TIMEOUT_MS: node-fastcgi's server.setTimeout (idle connections closed).
  const timeoutMs = Number(process.env.FCGI_TEST_TIMEOUT_MS || 0);
  let connections = 0;
  /** Requests seen per client connection (node-fastcgi's request stream keeps it as `_conn`). */
  const perConnection = new WeakMap();
  const server = fcgi.createServer((req, res) => {
    if (logRequests) console.error(`request started: ${req.url} (pid ${process.pid})`);
    const connection = req.socket?._conn ?? req.socket;
    const onConnection = (perConnection.get(connection) ?? 0) + 1;
    if (connection) perConnection.set(connection, onConnection);
    let query;
    try {
      query = new URL(req.url, 'http://localhost').searchParams;
    } catch {
      res.writeHead(400);
      return res.end('bad url\n'); // the fuzz test sends anything
    }
    // answer=K: case K of fixtures/answer-cases.js; secret=1: another client's confidential answer.
    if (query.has('answer')) return answerCase(Number(query.get('answer')), res);
    if (query.has('secret')) return answerSecret(res);
    const head = `pid=${process.pid} conns=${connections} onconn=${onConnection}`;
    const reply = (extra = '') => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`${head}${extra}\n`);
    };
    if (query.has('echo')) {
      // What node-fastcgi's API shows the application, for comparing the two paths.
      const seen = {
        url: req.url,
        method: req.method,
        httpVersion: req.httpVersion,
        httpVersionMajor: req.httpVersionMajor,
        httpVersionMinor: req.httpVersionMinor,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        cgiParams: req.cgiParams,
        complete: req.complete,
        socket: ['remoteAddress', 'remotePort', 'remoteFamily', 'localAddress', 'localPort'].map((k) => req.socket[k]),
        address: req.socket.address(),
        params: req.socket.params === req.cgiParams,
        stdout: res.stdout === req.socket,
        stderr: typeof res.stderr?.write,
        data: typeof req.data?.on,
        instances: [req instanceof require('node:http').IncomingMessage, res instanceof require('node:http').ServerResponse],
      };
      let body = '';
      req.on('data', (d) => (body += d));
      return req.on('end', () => {
        res.setHeader('X-Echo', 'yes');
        res.writeHead(201, 'Made', { 'Content-Type': 'application/json' });
        res.write(JSON.stringify({ ...seen, body }));
        res.end('\n');
      });
    }
    // What the connection under the request is: HandleSocket (served on its handle) or Socket (net.Socket).
    if (query.has('connection')) return reply(` connection=${connection?.constructor?.name}`);
    // live=1 (with --expose-gc): the memory this process holds, after a full collection, in bytes.
    if (query.has('live')) {
      if (typeof global.gc !== 'function') return res.writeHead(500).end('no gc: start with --expose-gc\n');
      // Twice, a turn of the event loop apart: buffers' backing stores are freed after a collection
      // (on Node 24+ by a sweeper thread), and what they free is counted by the next one.
      global.gc();
      return setTimeout(() => {
        global.gc();
        const { heapUsed, external, arrayBuffers, rss } = process.memoryUsage();
        reply(` live=${heapUsed + external} heap=${heapUsed} external=${external} arrayBuffers=${arrayBuffers} rss=${rss}`);
      }, 20);
    }
    // address=1: what server.address() says in this process (frameworks log it).
    if (query.has('address')) return reply(` address=${JSON.stringify(server.address())}`);
    if (query.has('stderr')) res.stderr.write(query.get('stderr'));
    if (query.has('sleep')) return setTimeout(reply, Math.min(Number(query.get('sleep')) || 0, 5) * 1000);
    if (query.has('bytes')) {
      let left = Math.min(Number(query.get('bytes')) || 0, 100 * 1024 * 1024);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(left) });
      return Readable.from(
        (function* () {
          while (left > 0) {
            const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
            left -= piece.length;
            yield piece;
          }
        })(),
      ).pipe(res);
    }
    if (query.has('body')) {
      // body=later&wait=S: the application reads nothing for S seconds, then the whole body.
      if (query.get('body') === 'later') {
        req.pause();
        setTimeout(() => req.resume(), Math.min(Number(query.get('wait')) || 0, 5) * 1000);
      }
      let length = 0;
      let sum = 0;
      let nextPause = 1024 * 1024;
      req.on('data', (d) => {
        length += d.length;
        for (let i = 0; i < d.length; i += 4096) sum = (sum + d[i]) % 1_000_000_007;
        // body=slow: a consumer slower than the client, 20 ms per MiB.
        if (query.get('body') === 'slow' && length >= nextPause) {
          nextPause += 1024 * 1024;
          req.pause();
          setTimeout(() => req.resume(), 20);
        }
      });
      return req.on('end', () => reply(` length=${length} sum=${sum}`));
    }
    reply();
  }, config);
  server.on('connection', () => connections++);
  if (process.env.FCGI_TEST_ROLES === '1') {
    server.on('authorize', (req, res) => {
      if (req.headers['x-token'] === 'open') {
        res.setVariable('USER', 'alice');
        res.allow();
      } else res.deny();
    });
    server.on('filter', (req, res) => {
      let stdin = '';
      let data = '';
      req.on('data', (d) => (stdin += d));
      req.data.on('data', (d) => (data += d));
      let ended = 0;
      const done = () => {
        if (++ended < 2) return;
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`stdin=${stdin} data=${data.toUpperCase()}\n`);
      };
      req.on('end', done);
      req.data.on('end', done);
    });
  }
  if (timeoutMs > 0) server.setTimeout(timeoutMs); // no callback: an unhandled timeout closes the connection
  if (mode === 'as-is') {
    server.listen(socketPath, () => console.error(`test app (pid ${process.pid}) listening`));
    process.on('SIGTERM', () => process.exit(0));
    return;
  }
  const { ProcManager } = require('../..');
  const pm = new ProcManager({ n_processes: n, listen: socketPath, die_timeout: 20 });
  pm.manage()
    .then(() => pm.attach(server, mode === 'pool-as-is' ? { fastcgi: 'as-is' } : {}))
    .catch((err) => {
      console.error(`test app: ${err.message}`);
      process.exit(2);
    });
}

/**
 * Starts the test application (see above) on a fresh unix socket and waits until it accepts.
 * Returns the helpers' process handle with `address`.
 */
/**
 * The live memory (V8's heap and the memory outside it, after two full collections a turn apart) of
 * the worker that answers, in MiB: what it keeps, whatever a Node line's collector leaves lying around.
 * The app must run with --expose-gc (env NODE_OPTIONS); asked on a connection of its own.
 */
async function liveMemory(address) {
  const conn = await RawConnection.open(address);
  await conn.write(request(1, { params: { REQUEST_URI: '/?live=1' } }));
  const answer = await conn.response(1, 10_000);
  conn.close();
  if (answer.status !== 200) throw new Error(`?live=1: ${answer.status} ${answer.body}`);
  return Number(/ live=(\d+)/.exec(answer.body)[1]) / 2 ** 20;
}

async function startTestApp({ mode = 'pool', n = 1, env = {} } = {}) {
  const path = require('node:path');
  const { startNode, tempDir } = require('./helpers');
  const address = path.join(tempDir(), 'app.sock');
  const proc = startNode({ script: __filename, args: ['--serve', mode, address, String(n)], env });
  proc.address = address;
  await proc.waitFor(mode === 'as-is' ? /test app \(pid \d+\) listening/ : /ready: \d+ servers? accepting/);
  return proc;
}

if (require.main === module && process.argv[2] === '--serve') {
  serveTestApp(process.argv[3], process.argv[4], Number(process.argv[5] ?? 1));
}

module.exports = {
  startTestApp,
  liveMemory,
  TYPE,
  ROLE,
  STATUS,
  record,
  beginRequest,
  nameValuePairs,
  parseNameValuePairs,
  streamRecords,
  request,
  getValues,
  RawConnection,
};
