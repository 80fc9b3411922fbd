'use strict';
// Property-based tests of the FastCGI codecs (fast-check), each against a model written here, apart
// from src/fastcgi: the record reader (any records, cut into any chunks), the name-value decoder
// (every length form, pairs that straddle, truncation) and encoder, and the record writer on a real
// socket (strings in every encoding, Buffers of every size, ends of streams). FUZZ_RUNS sets the
// runs per property (default 200: seconds in CI); FUZZ_SEED replays a failure.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const fc = require('fast-check');
const { tempDir } = require('../helpers/helpers');
const { RecordReader } = require('../../dist/fastcgi/record-reader');
const { RecordWriter } = require('../../dist/fastcgi/record-writer');
const { decodeNameValuePairs, encodeNameValuePairs, NameCache, ProtocolError } = require('../../dist/fastcgi/protocol');

const RUNS = Number(process.env.FUZZ_RUNS) || 200;
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const options = (runs = RUNS) => ({ numRuns: runs, ...(SEED === undefined ? {} : { seed: SEED }) });

// ---- The model: FastCGI as the specification writes it ----------------------------------------

function modelRecord({ version = 1, type, requestId, content, padding }) {
  const header = Buffer.from([version, type, requestId >> 8, requestId & 0xff, content.length >> 8, content.length & 0xff, padding, 0]);
  return Buffer.concat([header, Buffer.from(content), Buffer.alloc(padding, 0xee)]);
}

/** Parses whole records; returns them and the bytes left over. */
function modelParse(bytes) {
  const records = [];
  let at = 0;
  while (bytes.length - at >= 8) {
    const length = (bytes[at + 4] << 8) | bytes[at + 5];
    const total = 8 + length + bytes[at + 6];
    if (bytes.length - at < total) break;
    records.push({ version: bytes[at], type: bytes[at + 1], requestId: (bytes[at + 2] << 8) | bytes[at + 3], padding: bytes[at + 6], content: bytes.subarray(at + 8, at + 8 + length) });
    at += total;
  }
  return { records, rest: bytes.length - at };
}

/** A length in the 1-byte form (below 128, unless `long`) or the 4-byte form with the top bit set. */
function modelLength(length, long) {
  if (length < 128 && !long) return Buffer.from([length]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((length | 0x80000000) >>> 0);
  return b;
}

function modelPairs(pairs) {
  return Buffer.concat(
    pairs.flatMap(({ name, value, longName, longValue }) => {
      const n = Buffer.from(name, 'utf8');
      const v = Buffer.from(value, 'utf8');
      return [modelLength(n.length, longName), modelLength(v.length, longValue), n, v];
    }),
  );
}

function modelDecodePairs(bytes) {
  const out = [];
  let at = 0;
  const length = () => {
    if (bytes[at] < 128) return bytes[at++];
    const v = bytes.readUInt32BE(at) & 0x7fffffff;
    at += 4;
    return v;
  };
  while (at < bytes.length) {
    const n = length();
    const v = length();
    out.push([bytes.toString('utf8', at, at + n), bytes.toString('utf8', at + n, at + n + v)]);
    at += n + v;
  }
  return { pairs: out, lengthBytes: at };
}

// ---- Arbitraries ------------------------------------------------------------------------------

const content = fc.oneof({ weight: 30, arbitrary: fc.uint8Array({ maxLength: 300 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 60_000, maxLength: 0xffff }) });
const anyRecord = fc.record({ type: fc.integer({ min: 0, max: 255 }), requestId: fc.integer({ min: 0, max: 0xffff }), content, padding: fc.integer({ min: 0, max: 255 }) });

/** Cuts `bytes` at sorted cut points into chunks (some of them empty). */
function cut(bytes, points) {
  const at = [...new Set(points.map((p) => Math.floor(p * (bytes.length + 1))))].sort((a, b) => a - b);
  const chunks = [];
  let from = 0;
  for (const to of at) {
    chunks.push(bytes.subarray(from, to));
    from = to;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}
const cutPoints = fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 12 });

const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF+/=_-\r\n zQ\u00e9\ud800'), maxLength: 300 }),
  fc.string({ unit: 'binary', minLength: 128, maxLength: 400 }),
);

// ---- The record reader ------------------------------------------------------------------------

function readAll(chunks) {
  const got = [];
  const reader = new RecordReader((type, requestId, c) => got.push({ type, requestId, content: Buffer.from(c) }));
  for (const chunk of chunks) reader.push(chunk);
  return { got, pending: reader.pendingBytes };
}

test('record reader: any records, cut into any chunks, come out whole, in order, padding dropped', () => {
  fc.assert(
    fc.property(fc.array(anyRecord, { maxLength: 20 }), cutPoints, (records, points) => {
      const bytes = Buffer.concat(records.map(modelRecord));
      const { got, pending } = readAll(cut(bytes, points));
      assert.equal(pending, 0);
      assert.deepEqual(got, records.map(({ type, requestId, content: c }) => ({ type, requestId, content: Buffer.from(c) })));
    }),
    options(),
  );
});

test('record reader: a stream cut short hands out the whole records before the cut and holds the rest', () => {
  fc.assert(
    fc.property(fc.array(anyRecord, { minLength: 1, maxLength: 10 }), fc.double({ min: 0, max: 1, noNaN: true }), cutPoints, (records, where, points) => {
      const bytes = Buffer.concat(records.map(modelRecord));
      const prefix = bytes.subarray(0, Math.floor(where * bytes.length));
      const model = modelParse(prefix);
      const { got, pending } = readAll(cut(prefix, points));
      assert.equal(got.length, model.records.length);
      assert.equal(pending, model.rest);
    }),
    options(),
  );
});

test('record reader: a header of another version is a ProtocolError, after the records before it', () => {
  fc.assert(
    fc.property(fc.array(anyRecord, { minLength: 1, maxLength: 8 }), fc.nat(), fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1), cutPoints, (records, pick, version, points) => {
      const bad = pick % records.length;
      const bytes = Buffer.concat(records.map((r, i) => modelRecord(i === bad ? { ...r, version } : r)));
      const got = [];
      const reader = new RecordReader((type) => got.push(type));
      let error;
      try {
        for (const chunk of cut(bytes, points)) reader.push(chunk);
      } catch (err) {
        error = err;
      }
      assert.ok(error instanceof ProtocolError, `a ProtocolError, got ${error}`);
      assert.equal(got.length, bad, 'the records before the bad header, and none after');
    }),
    options(),
  );
});

// ---- Name-value pairs ---------------------------------------------------------------------------

const pair = fc.record({
  name: text,
  value: fc.oneof({ weight: 40, arbitrary: text }, { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 70_000, maxLength: 70_100 }) }),
  longName: fc.boolean(),
  longValue: fc.boolean(),
});
const names = new NameCache();

test('name-value decoder: every length form, with and without the name cache', () => {
  fc.assert(
    fc.property(fc.array(pair, { maxLength: 12 }), (pairs) => {
      const bytes = modelPairs(pairs);
      const expected = pairs.map(({ name, value }) => [Buffer.from(name).toString(), Buffer.from(value).toString()]);
      for (const cache of [undefined, names]) {
        const got = [];
        decodeNameValuePairs(bytes, (n, v) => got.push([n, v]), cache);
        assert.deepEqual(got, expected);
      }
    }),
    options(),
  );
});

test('name-value decoder: input cut inside a pair is a ProtocolError, never another error', () => {
  fc.assert(
    fc.property(fc.array(pair, { minLength: 1, maxLength: 6 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (pairs, where) => {
      const bytes = modelPairs(pairs);
      const ends = [];
      let total = 0;
      for (const p of pairs) ends.push((total += modelPairs([p]).length));
      const at = Math.floor(where * bytes.length);
      const got = [];
      let error;
      try {
        decodeNameValuePairs(bytes.subarray(0, at), (n, v) => got.push([n, v]));
      } catch (err) {
        error = err;
      }
      if (at === 0 || ends.includes(at)) {
        assert.equal(error, undefined);
        assert.equal(got.length, ends.filter((e) => e <= at).length);
      } else assert.ok(error instanceof ProtocolError, `a ProtocolError at ${at} of ${bytes.length}, got ${error}`);
    }),
    options(),
  );
});

test('name-value encoder: the model decodes what it writes, with the short form below 128 bytes', () => {
  fc.assert(
    fc.property(fc.array(pair, { maxLength: 12 }), (pairs) => {
      const input = pairs.map(({ name, value }) => [name, value]);
      const bytes = encodeNameValuePairs(input);
      const { pairs: decoded, lengthBytes } = modelDecodePairs(bytes);
      assert.equal(lengthBytes, bytes.length);
      assert.deepEqual(decoded, input.map(([n, v]) => [Buffer.from(n).toString(), Buffer.from(v).toString()]));
      assert.equal(bytes.length, modelPairs(pairs.map((p) => ({ ...p, longName: false, longValue: false }))).length, 'the shortest forms');
    }),
    options(),
  );
});

// ---- The record writer, on a real socket --------------------------------------------------------

const ENCODINGS = ['utf8', 'utf-8', 'utf16le', 'ucs2', 'latin1', 'binary', 'ascii', 'base64', 'base64url', 'hex', 'UTF8', 'Base64', 'HEX'];
const streamWrite = fc.record({
  kind: fc.constant('write'),
  requestId: fc.integer({ min: 1, max: 3 }),
  type: fc.constantFrom(6, 7),
  chunk: fc.oneof(
    { weight: 4, arbitrary: fc.tuple(text, fc.constantFrom(...ENCODINGS)) },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 400 }).map((a) => [Buffer.from(a)]) },
    { weight: 1, arbitrary: fc.integer({ min: 16 * 1024 - 10, max: 200 * 1024 }).map((n) => [Buffer.alloc(n, n & 0xff)]) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 100 * 1024 }).map((n) => [Buffer.alloc(n, 0xab).toString('base64').replace(/.{76}/g, '$&\r\n'), 'base64']) },
  ),
});
const endOfStream = fc.record({ kind: fc.constant('end'), requestId: fc.integer({ min: 1, max: 3 }), type: fc.constantFrom(6, 7) });
const small = fc.record({ kind: fc.constant('small'), bytes: fc.uint8Array({ minLength: 8, maxLength: 300 }) });

/** One listening socket for all the runs; each run gets a new connection to it. */
const pairs = { server: net.createServer(), address: path.join(tempDir(), 'writer.sock') };
test.before(() => new Promise((resolve) => pairs.server.listen(pairs.address, resolve)));
test.after(() => pairs.server.close());

async function socketPair() {
  const accepted = new Promise((resolve) => pairs.server.once('connection', resolve));
  const client = net.connect(pairs.address);
  return { serverSide: await accepted, client };
}

test('record writer: records carry exactly the bytes written, in order, none empty but the ends, none over 65535', async () => {
  const runs = Math.max(20, Math.floor(RUNS / 2)); // each run is a socket pair
  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof({ weight: 5, arbitrary: streamWrite }, { weight: 1, arbitrary: endOfStream }, { weight: 1, arbitrary: small }), { maxLength: 30 }), async (ops) => {
      const { serverSide, client } = await socketPair();
      const received = [];
      client.on('data', (d) => received.push(d));
      const closed = new Promise((resolve) => client.on('end', resolve));
      const writer = new RecordWriter(serverSide);
      const expected = [];
      for (const op of ops) {
        if (op.kind === 'write') {
          const [chunk, encoding] = op.chunk;
          writer.writeStream(op.requestId, op.type, chunk, encoding ?? 'buffer', () => {});
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
          if (bytes.length) expected.push({ requestId: op.requestId, type: op.type, bytes });
        } else if (op.kind === 'end') {
          writer.writeEndOfStream(op.requestId, op.type);
          expected.push({ requestId: op.requestId, type: op.type, bytes: Buffer.alloc(0) });
        } else {
          // A whole small record (a management answer), packed with the rest.
          const record = modelRecord({ type: 10, requestId: 0, content: op.bytes.subarray(8), padding: 0 });
          writer.write(record);
          expected.push({ requestId: 0, type: 10, bytes: Buffer.from(op.bytes.subarray(8)), whole: true });
        }
        if (op.kind === 'write' && op.requestId === 2) await new Promise(setImmediate); // flushes between some writes
      }
      writer.flush();
      serverSide.end();
      await closed;
      const { records, rest } = modelParse(Buffer.concat(received));
      assert.equal(rest, 0, 'no partial record');
      let at = 0;
      for (const want of expected) {
        if (want.bytes.length === 0 || want.whole) {
          const r = records[at++];
          assert.ok(r, 'a record for each end of stream');
          assert.deepEqual([r.requestId, r.type, Buffer.from(r.content)], [want.requestId, want.type, want.bytes]);
          continue;
        }
        const parts = [];
        let length = 0;
        while (length < want.bytes.length) {
          const r = records[at++];
          assert.ok(r && r.requestId === want.requestId && r.type === want.type && r.content.length > 0, `a record of ${want.bytes.length} bytes for ${want.requestId}/${want.type}`);
          parts.push(r.content);
          length += r.content.length;
        }
        assert.ok(Buffer.concat(parts).equals(want.bytes), 'the bytes written');
      }
      assert.equal(at, records.length, 'no record more');
      for (const r of records) assert.ok(r.version === 1 && r.padding === 0 && r.content.length <= 0xffff);
      client.destroy();
    }),
    options(runs),
  );
});
