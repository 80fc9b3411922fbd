'use strict';
// The pure parts of the worker path: the record reader and the wire codecs, checked against the
// test client's own independent encoder.

const test = require('node:test');
const assert = require('node:assert/strict');
const { RecordReader } = require('../../dist/fastcgi/record-reader');
const protocol = require('../../dist/fastcgi/protocol');
const raw = require('../helpers/fcgi-raw-client');

function readAll(chunks) {
  const records = [];
  const reader = new RecordReader((type, requestId, content) => records.push({ type, requestId, content: Buffer.from(content).toString('latin1') }));
  for (const chunk of chunks) reader.push(chunk);
  return { records, pending: reader.pendingBytes };
}

const SAMPLE = Buffer.concat([
  raw.beginRequest(1, { keepConn: true }),
  raw.record(raw.TYPE.PARAMS, 1, raw.nameValuePairs({ A: 'b', LONG: 'x'.repeat(300) }), 3),
  raw.record(raw.TYPE.PARAMS, 1),
  raw.record(raw.TYPE.STDIN, 1, 'body', 7),
  raw.record(raw.TYPE.STDIN, 1),
  raw.record(99, 0, Buffer.alloc(8)),
]);

test('the record reader yields the same records however the stream is cut', () => {
  const whole = readAll([SAMPLE]);
  assert.deepEqual(
    whole.records.map((r) => [r.type, r.requestId, r.content.length]),
    [
      [1, 1, 8],
      [4, 1, 2 + 1 + 1 + 5 + 300 + 4],
      [4, 1, 0],
      [5, 1, 4],
      [5, 1, 0],
      [99, 0, 8],
    ],
  );
  assert.equal(whole.records[3].content, 'body', 'padding is skipped');
  assert.equal(whole.pending, 0);
  for (let cut = 1; cut < SAMPLE.length; cut++) {
    assert.deepEqual(readAll([SAMPLE.subarray(0, cut), SAMPLE.subarray(cut)]).records, whole.records, `cut at ${cut}`);
  }
  const bytes = [...SAMPLE].map((b) => Buffer.from([b]));
  assert.deepEqual(readAll(bytes).records, whole.records, 'one byte at a time');
});

test('the record reader holds back an incomplete record, and refuses a version other than 1', () => {
  const partial = readAll([SAMPLE.subarray(0, 20)]);
  assert.equal(partial.records.length, 1);
  assert.equal(partial.pending, 4);
  const bad = Buffer.from(SAMPLE);
  bad[16] = 2; // the version byte of the second record
  assert.throws(() => readAll([bad]), (err) => err instanceof protocol.ProtocolError && /version 2/.test(err.message));
  // Known as soon as the header is in, before its content.
  assert.throws(() => readAll([bad.subarray(0, 24)]), protocol.ProtocolError);
  assert.throws(() => readAll([bad.subarray(0, 17), bad.subarray(17, 24)]), protocol.ProtocolError);
});

test('the record reader stops at once when told to, even within a chunk', () => {
  const seen = [];
  const reader = new RecordReader((type) => {
    seen.push(type);
    if (seen.length === 2) reader.stop();
  });
  reader.push(SAMPLE);
  reader.push(SAMPLE);
  assert.deepEqual(seen, [1, 4]);
  assert.equal(reader.pendingBytes, 0);
});

test('name-value pairs: both length forms, and a pair that runs past its stream is an error', () => {
  const pairs = { SHORT: 'v', [`N${'a'.repeat(200)}`]: 'w'.repeat(70_000), EMPTY: '' };
  const decoded = {};
  protocol.decodeNameValuePairs(raw.nameValuePairs(pairs), (name, value) => (decoded[name] = value));
  assert.deepEqual(decoded, pairs);
  assert.deepEqual(raw.parseNameValuePairs(protocol.encodeNameValuePairs(Object.entries(pairs))), pairs);
  const encoded = raw.nameValuePairs({ NAME: 'value' });
  for (let cut = 1; cut < encoded.length; cut++) {
    assert.throws(() => protocol.decodeNameValuePairs(encoded.subarray(0, cut), () => {}), protocol.ProtocolError, `cut at ${cut}`);
  }
  // A 4-byte length announcing more than there is.
  assert.throws(() => protocol.decodeNameValuePairs(Buffer.from([0x80, 0, 1, 0, 0]), () => {}), protocol.ProtocolError);
});

test('the records the worker path writes, byte for byte', () => {
  assert.deepEqual([...protocol.encodeEndRequest(0x0102, 0x01020304, 3)], [1, 3, 1, 2, 0, 8, 0, 0, 1, 2, 3, 4, 3, 0, 0, 0]);
  assert.deepEqual([...protocol.encodeUnknownType(200)], [1, 11, 0, 0, 0, 8, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(protocol.encodeRecord(6, 7, Buffer.from('hi')), raw.record(6, 7, 'hi'));
  assert.deepEqual(protocol.decodeBeginRequest(raw.beginRequest(5, { role: 2, keepConn: true }).subarray(8)), { role: 2, flags: 1 });
  assert.throws(() => protocol.decodeBeginRequest(Buffer.alloc(5)), protocol.ProtocolError);
  assert.throws(() => protocol.encodeRecord(6, 1, Buffer.alloc(0x10000)), RangeError);
});

test('the name cache reuses a name only when its bytes are the same', () => {
  const names = new protocol.NameCache();
  const decode = (pairs) => {
    const out = [];
    protocol.decodeNameValuePairs(raw.nameValuePairs(pairs), (name, value) => out.push([name, value]), names);
    return out;
  };
  assert.deepEqual(decode({ HTTP_HOST: 'a', REMOTE_ADDR: 'b' }), [['HTTP_HOST', 'a'], ['REMOTE_ADDR', 'b']]);
  assert.deepEqual(decode({ HTTP_HOST: 'c', REMOTE_ADDR: 'd' }), [['HTTP_HOST', 'c'], ['REMOTE_ADDR', 'd']]);
  // Same lengths, other bytes, other order.
  assert.deepEqual(decode({ HTTP_HOSU: 'e', REMOTE_ADDR: 'f' }), [['HTTP_HOSU', 'e'], ['REMOTE_ADDR', 'f']]);
  assert.deepEqual(decode({ REMOTE_ADDR: 'g', HTTP_HOST: 'h', X: 'é' }), [['REMOTE_ADDR', 'g'], ['HTTP_HOST', 'h'], ['X', 'é']]);
});
