'use strict';
// One HTTP GET through nginx, for the probes (readiness, in-flight requests, recovery).

const http = require('node:http');

/** Resolves with { status, body, ms, error }; never rejects. */
function httpGet(url, { timeoutMs = 10_000 } = {}) {
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, ms: elapsed() }));
      res.on('error', (err) => resolve({ status: 0, body, ms: elapsed(), error: err.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ status: 0, body: '', ms: elapsed(), error: err.message }));
  });
}

/** Polls `url` until it answers 200 (and `accept(body)`), or throws after `timeoutMs`. */
async function waitUntilAnswers(url, { timeoutMs = 20_000, accept = () => true } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await httpGet(url, { timeoutMs: 2_000 });
    if (last.status === 200 && accept(last.body)) return last;
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last.status} ${last.error ?? last.body.slice(0, 80)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Two GETs of `url` through a keep-alive agent limited to one socket, with no Connection header
 * (HTTP/1.1's default persistence, as wrk and curl send them). Resolves with { kept, connection,
 * statuses }: `kept` is true if the second request went out on the first one's connection, and
 * `connection` is the Connection header of the first answer, if any. Never rejects.
 */
async function keepAliveProbe(url, { timeoutMs = 5_000 } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const once = () =>
    new Promise((resolve) => {
      const req = http.request(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection, reused: req.reusedSocket }));
      });
      req.removeHeader('connection'); // none is sent; the agent still keeps the socket
      req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve({ status: 0, error: err.message, reused: false }));
      req.end();
    });
  try {
    const first = await once();
    const second = await once();
    return { kept: second.reused === true, connection: first.connection, statuses: [first.status, second.status] };
  } finally {
    agent.destroy();
  }
}

module.exports = { httpGet, waitUntilAnswers, keepAliveProbe };
