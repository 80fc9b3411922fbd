'use strict';
// Bad input costs only the bad connection: malformed and truncated streams close their own
// connection, requests in flight on the worker's other connections are answered, and a bounded
// fuzz run (random and mutated record streams) never makes the worker exit, and every stream it
// answers is well formed: whole version-1 records, at most one FCGI_END_REQUEST per
// FCGI_BEGIN_REQUEST sent and nothing for a request after it, management answers only on id 0,
// bodies byte-exact (among them base64 and hex answers right after another client's confidential
// one), and the worker's memory bounded. FUZZ_STREAMS and FUZZ_SECONDS make a longer run.

const test = require('node:test');
const assert = require('node:assert/strict');
const { livePids, isAlive, sleep, memoryOf, resetPeakMemory } = require('../helpers/helpers');
const { ANSWER_CASES, SECRET_LINE } = require('../fixtures/answer-cases');
const { PARAMETERS } = require('../../dist/params/table');
const { startTestApp, RawConnection, TYPE, ROLE, request, record, beginRequest, streamRecords, nameValuePairs, getValues } = require('../helpers/fcgi-raw-client');

/** Starts the pool with one worker, and a request on its own connection that takes `sleepS` seconds. */
async function workerWithRequestInFlight(sleepS) {
  const app = await startTestApp({ mode: 'pool', n: 1 });
  const [worker] = livePids(app);
  const bystander = await RawConnection.open(app.address);
  await bystander.write(request(1, { keepConn: true, params: { REQUEST_URI: `/?sleep=${sleepS}` } }));
  return { app, worker, bystander };
}

async function assertStillServing(app, worker, bystander) {
  assert.equal((await bystander.response(1, 20_000)).status, 200, 'the request in flight on another connection is answered');
  bystander.close();
  const conn = await RawConnection.open(app.address);
  await conn.write(Buffer.concat([getValues(['FCGI_MPXS_CONNS']), request(2, { keepConn: true })]));
  assert.equal((await conn.response(2)).status, 200, 'a new connection is served');
  assert.ok(conn.records.some((r) => r.type === TYPE.GET_VALUES_RESULT));
  conn.close();
  assert.ok(isAlive(worker), 'the worker is alive');
  assert.deepEqual(livePids(app), [worker], 'and is the same worker');
  assert.equal(app.count(/exited/), 0, app.lines.join('\n'));
}

test('malformed and truncated streams close their own connection only', async () => {
  const { app, worker, bystander } = await workerWithRequestInFlight(1);
  try {
    const good = request(1, { keepConn: true });
    const versionTwo = Buffer.from(good);
    versionTwo[0] = 2;
    const cases = {
      'a header with version 2': versionTwo,
      'FCGI_BEGIN_REQUEST with a 5-byte body': Buffer.concat([record(TYPE.BEGIN_REQUEST, 1, Buffer.from([0, 1, 1, 0, 0])), good]),
      'a name-value pair longer than its FCGI_PARAMS': Buffer.concat([
        beginRequest(1, { keepConn: true }),
        record(TYPE.PARAMS, 1, Buffer.from([4, 100, 65, 66, 67, 68, 1, 2])),
        record(TYPE.PARAMS, 1),
      ]),
      'FCGI_STDIN before the end of FCGI_PARAMS': Buffer.concat([
        beginRequest(1, { keepConn: true }),
        record(TYPE.PARAMS, 1, nameValuePairs({ REQUEST_METHOD: 'GET' })),
        record(TYPE.STDIN, 1, 'early'),
      ]),
      'FCGI_PARAMS beyond 1 MiB': Buffer.concat([
        beginRequest(1, { keepConn: true }),
        ...Array.from({ length: 17 }, () => record(TYPE.PARAMS, 1, nameValuePairs({ [`P${Math.random()}`]: 'v'.repeat(65_000) }))),
      ]),
    };
    for (const [what, bytes] of Object.entries(cases)) {
      const conn = await RawConnection.open(app.address);
      await conn.write(bytes);
      await conn.until((c) => c.finReceived || c.endedState, 5_000, `the worker closing the connection after ${what}`);
      assert.ok(!conn.records.some((r) => r.type === TYPE.STDOUT), `${what}: no answer`);
      conn.close();
    }
    // Truncated: the client goes away mid-record, and mid-request.
    for (const cut of [3, 12, good.length - 5]) {
      const conn = await RawConnection.open(app.address);
      await conn.write(good.subarray(0, cut));
      conn.close();
    }
    await assertStillServing(app, worker, bystander);
  } finally {
    app.kill('SIGTERM');
  }
});

// ---- Fuzzing ----------------------------------------------------------------------------------

/** mulberry32: a small seeded generator, so that a failing run can be replayed with FUZZ_SEED. */
function generator(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)], bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))) };
}

/** The answer cases the fuzz asks for (see fixtures/answer-cases.js): MIME base64, invalid hex, stderr in hex. */
const FUZZ_CASES = [0, 6, 17];
const URIS = ['/', '/?stderr=e', '/?body=1', '/?sleep=0.05', '/?x=%ff%00', '/?secret=1', ...FUZZ_CASES.map((k) => `/?answer=${k}`)];

/** Every body the test app may answer a fuzz request with (HEAD: none). */
const SECRET_BODY = SECRET_LINE.repeat(100);
// All of them: a mutated byte can turn `answer=6` into `answer=7`.
const CASE_BODIES = ANSWER_CASES.map((c) =>
  Buffer.concat([...(c.write ?? []), ...(c.end ? [c.end] : [])].map(([chunk, encoding]) => (typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Buffer.from(chunk)))).toString('latin1'),
);
const REPLY = /^pid=\d+ conns=\d+ onconn=\d+( length=\d+ sum=\d+)?\n$/;
function expectedBody(body) {
  return body === '' || body === 'bad url\n' || REPLY.test(body) || body === SECRET_BODY || CASE_BODIES.includes(body);
}

/** The whole version-1 records at the start of `bytes` (the worker reads no further). */
function sentRecords(bytes) {
  const records = [];
  for (let at = 0; bytes.length - at >= 8 && bytes[at] === 1; ) {
    const total = 8 + bytes.readUInt16BE(at + 4) + bytes[at + 6];
    if (bytes.length - at < total) break;
    records.push({ type: bytes[at + 1], requestId: bytes.readUInt16BE(at + 2) });
    at += total;
  }
  return records;
}

/** What is wrong with what the worker wrote on `conn` for the stream `sent`: a list of problems. */
function checkAnswers(sent, conn) {
  const problems = [];
  const begins = new Map();
  let needAnswer = 0;
  for (const r of sentRecords(sent)) {
    if (r.type === TYPE.BEGIN_REQUEST && r.requestId !== 0) begins.set(r.requestId, (begins.get(r.requestId) ?? 0) + 1);
    if (r.requestId === 0 || r.type > TYPE.UNKNOWN_TYPE || r.type === 0) needAnswer++;
  }
  const ended = new Map();
  const stdout = new Map();
  let management = 0;
  for (const r of conn.records) {
    if (r.version !== 1) problems.push(`a record of version ${r.version}`);
    if (r.requestId === 0) {
      management++;
      if (r.type !== TYPE.GET_VALUES_RESULT && r.type !== TYPE.UNKNOWN_TYPE) problems.push(`${r.typeName} on request id 0`);
      if (r.type === TYPE.UNKNOWN_TYPE && r.content.length !== 8) problems.push(`FCGI_UNKNOWN_TYPE of ${r.content.length} bytes`);
      continue;
    }
    const id = r.requestId;
    const done = ended.get(id) ?? 0;
    if (done >= (begins.get(id) ?? 0)) {
      problems.push(`${r.typeName} for request ${id} after its FCGI_END_REQUEST (${begins.get(id) ?? 0} begun)`);
      continue;
    }
    if (r.type === TYPE.STDOUT) stdout.set(id, [...(stdout.get(id) ?? []), r.content]);
    else if (r.type === TYPE.END_REQUEST) {
      ended.set(id, done + 1);
      if (r.content.length !== 8 || r.content[4] > 3) problems.push(`a malformed FCGI_END_REQUEST for ${id}`);
      const out = Buffer.concat(stdout.get(id) ?? []).toString('latin1');
      stdout.delete(id);
      const split = out.indexOf('\r\n\r\n');
      const body = split < 0 ? '' : out.slice(split + 4);
      if (r.content.readUInt32BE(0) === 0 && r.content[4] === 0 && !expectedBody(body)) problems.push(`request ${id} answered ${JSON.stringify(body.slice(0, 120))}`);
      if (body.includes('S3CR3T') && body !== SECRET_BODY) problems.push(`request ${id}: another client's answer in this one`);
    } else if (r.type !== TYPE.STDERR) problems.push(`${r.typeName} for request ${id}`);
  }
  if (management > needAnswer) problems.push(`${management} management answers for ${needAnswer} records that need one`);
  if (conn.finReceived && conn.pending.length > 0) problems.push(`${conn.pending.length} bytes of a partial record before the worker's FIN`);
  return problems;
}


function validRecords(rnd) {
  const id = 1 + rnd.int(3);
  const records = [beginRequest(id, { keepConn: rnd.next() < 0.7, role: rnd.next() < 0.85 ? ROLE.RESPONDER : rnd.int(5) })];
  const params = nameValuePairs({
    REQUEST_METHOD: rnd.pick(['GET', 'POST', 'HEAD']),
    REQUEST_URI: rnd.pick(URIS),
    SERVER_PROTOCOL: rnd.pick(['HTTP/1.1', 'HTTP/1.0', 'HTTP/x']),
    HTTP_X_FUZZ: rnd.bytes(rnd.int(40)).toString('latin1'),
  });
  const split = rnd.int(params.length + 1);
  records.push(record(TYPE.PARAMS, id, params.subarray(0, split)), record(TYPE.PARAMS, id, params.subarray(split)), record(TYPE.PARAMS, id));
  const body = rnd.bytes(rnd.int(300));
  if (body.length) records.push(record(TYPE.STDIN, id, body, rnd.int(8)));
  records.push(record(TYPE.STDIN, id));
  if (rnd.next() < 0.1) records.push(record(TYPE.ABORT_REQUEST, id));
  if (rnd.next() < 0.1) records.push(getValues(['FCGI_MAX_CONNS', 'FCGI_MPXS_CONNS', rnd.bytes(5).toString('latin1')]));
  return records.filter((r) => r.length <= 8 + 0xffff + 255);
}

function randomRecord(rnd) {
  const type = rnd.next() < 0.5 ? rnd.int(12) : rnd.int(256);
  return record(type, rnd.pick([0, 1, 2, rnd.int(65536)]), rnd.bytes(rnd.int(64)), rnd.int(16));
}

/** One fuzz stream: valid requests, random records and garbage, then mutated. */
function fuzzStream(rnd) {
  let records = [];
  const parts = 1 + rnd.int(3);
  for (let i = 0; i < parts; i++) {
    const kind = rnd.next();
    if (kind < 0.6) records.push(...validRecords(rnd));
    else if (kind < 0.9) records.push(randomRecord(rnd));
    else records.push(rnd.bytes(1 + rnd.int(40)));
  }
  if (rnd.next() < 0.2) records = records.sort(() => rnd.next() - 0.5);
  let bytes = Buffer.concat(records);
  const mutation = rnd.next();
  if (mutation < 0.25) {
    bytes = Buffer.from(bytes);
    for (let i = 1 + rnd.int(4); i > 0; i--) bytes[rnd.int(bytes.length)] = rnd.int(256);
  } else if (mutation < 0.4) {
    bytes = bytes.subarray(0, rnd.int(bytes.length));
  } else if (mutation < 0.5) {
    const at = rnd.int(bytes.length);
    bytes = Buffer.concat([bytes.subarray(0, at), rnd.bytes(1 + rnd.int(16)), bytes.subarray(at)]);
  } else if (mutation < 0.55) {
    const at = rnd.int(bytes.length);
    bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(rnd.int(at + 1))]);
  }
  return bytes;
}

/** Sends one stream in random pieces, waits briefly for what comes back, and hangs up (or not); returns the problems with what came back. */
async function playStream(address, rnd, bytes) {
  const conn = await RawConnection.open(address);
  try {
    let at = 0;
    while (at < bytes.length && !conn.endedState) {
      const size = 1 + rnd.int(Math.max(1, bytes.length));
      conn.socket.write(bytes.subarray(at, at + size));
      at += size;
      if (rnd.next() < 0.2) await sleep(1);
    }
    if (rnd.next() < 0.7) await conn.until((c) => c.finReceived || c.endedState, 30, 'the server').catch(() => {});
    return checkAnswers(bytes, conn);
  } finally {
    conn.close();
  }
}

const STREAMS = Number(process.env.FUZZ_STREAMS) || 3_000;
const SECONDS = Number(process.env.FUZZ_SECONDS) || 60;
const LANES = 24;

/**
 * Plays the first `count` of the STREAMS fuzz streams of `seed` over LANES concurrent connections,
 * checking after each stream that `pid` is alive, until all are played, `pid` dies or `seconds` pass.
 * Resolves with how many were played, how many could not be (the connection refused), after how
 * many streams `pid` was first seen dead, and the problems found in what came back (the first 10).
 */
async function fuzz(address, pid, seed, seconds, count = STREAMS) {
  const deadline = Date.now() + seconds * 1000; // bounded in time as well as in count
  const rnd = generator(seed);
  const streams = Array.from({ length: STREAMS }, () => fuzzStream(rnd));
  let played = 0;
  let refused = 0;
  let deadAfter;
  const problems = [];
  await Promise.all(
    Array.from({ length: LANES }, async (_, lane) => {
      const laneRnd = generator(seed + lane + 1);
      for (let i = lane; i < count && deadAfter === undefined && Date.now() < deadline; i += LANES) {
        const found = await playStream(address, laneRnd, streams[i]).catch(() => (refused++, [])); // a dead server refuses the connection
        if (found.length && problems.length < 10) problems.push(`stream ${i}: ${found.join('; ')}`);
        played++;
        if (!isAlive(pid)) deadAfter ??= played;
      }
    }),
  );
  return { played, refused, deadAfter, problems };
}

/**
 * The most the worker's peak RSS may grow over a fuzz run: what the streams may hold (16 MiB), above
 * V8's young generation, which from Node 24 on fills up to its size (3 semi-spaces, at the pool's
 * max_semi_space) with garbage before it is collected: on Node 26 the peak grew 44-50 MiB in CI, on
 * Node 22 about 10. A record flood that kept what it read would take hundreds of MiB.
 */
const HELD_BY_STREAMS_MIB = 16;
const FUZZ_MEMORY_MIB = 3 * PARAMETERS.max_semi_space.default + HELD_BY_STREAMS_MIB;

test(`fuzz: ${STREAMS} random and mutated record streams, well-formed answers, and the worker never exits`, async (t) => {
  const seed = Number(process.env.FUZZ_SEED) || Date.now() % 2 ** 31;
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const { app, worker, bystander } = await workerWithRequestInFlight(3);
  try {
    const before = memoryOf(worker);
    resetPeakMemory(worker);
    const started = Date.now();
    const { played, refused, deadAfter, problems } = await fuzz(app.address, worker, seed, SECONDS);
    const after = memoryOf(worker);
    t.diagnostic(`${played} streams played in ${Date.now() - started} ms; worker RSS ${before.rss.toFixed(0)} MiB before, peak ${after.peak.toFixed(0)} MiB`);
    assert.equal(refused, 0, 'every connection was accepted');
    assert.equal(deadAfter, undefined, `the worker died after ${deadAfter} streams (FUZZ_SEED=${seed})\n${app.lines.join('\n')}`);
    assert.deepEqual(problems, [], `what the worker wrote (FUZZ_SEED=${seed})`);
    assert.equal(played, STREAMS, `all ${STREAMS} streams within the ${SECONDS} s bound (FUZZ_SEED=${seed})`);
    assert.ok(after.peak - before.rss < FUZZ_MEMORY_MIB, `the worker's peak RSS grew ${(after.peak - before.rss).toFixed(1)} MiB (budget ${FUZZ_MEMORY_MIB})`);
    await assertStillServing(app, worker, bystander);
    assert.ok(!app.lines.some((l) => /Uncaught|TypeError|RangeError/.test(l)), app.lines.join('\n'));
  } finally {
    app.kill('SIGTERM');
  }
});

test('fuzz against node-fastcgi as it is: one round of the same streams (the first on each of the 24 connections) kills it', async (t) => {
  const seed = Number(process.env.FUZZ_SEED) || Date.now() % 2 ** 31;
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const app = await startTestApp({ mode: 'as-is' });
  try {
    const { played, deadAfter } = await fuzz(app.address, app.pid, seed, 60, LANES);
    t.diagnostic(`node-fastcgi seen dead after ${deadAfter} of ${played} streams`);
    let timer;
    const died = await Promise.race([app.exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
    assert.ok(died, `node-fastcgi survived the first ${LANES} streams (FUZZ_SEED=${seed})`);
    assert.equal(died.code, 1, 'an uncaught exception');
    assert.ok(app.lines.some((l) => /^Node\.js v\d+/.test(l)) && app.lines.some((l) => /^\s+at /.test(l)), app.lines.join('\n'));
  } finally {
    if (isAlive(app.pid)) app.kill('SIGKILL');
  }
});
