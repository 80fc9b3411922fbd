'use strict';
// Every answer carries exactly the bytes the application wrote: strings in every encoding Buffer
// accepts (including base64 with line breaks, odd-length and invalid hex, whose byte count
// Buffer.byteLength only estimates), Buffers and typed arrays, on FCGI_STDOUT and FCGI_STDERR. The
// reference is what a net.Socket sends for the same calls. Just before each case another client's
// answer goes through the same worker, so that stale memory in a record could not pass unseen.
// (npm test runs this file on both connection paths: on handles, and with FCGI_PM_NO_RAW_HANDLE=1.)

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { tempDir } = require('../helpers/helpers');
const { startTestApp, RawConnection, request } = require('../helpers/fcgi-raw-client');
const { ANSWER_CASES, SECRET_LINE } = require('../fixtures/answer-cases');

/** A socket that collects what each connection to it sends, for socketBytes(). */
const reference = { server: net.createServer(), address: path.join(tempDir(), 'reference.sock') };
test.before(() => new Promise((resolve) => reference.server.listen(reference.address, resolve)));
test.after(() => reference.server.close());

/** The bytes a real net.Socket sends for `calls` ([chunk, encoding] pairs, as given to write()). */
async function socketBytes(calls) {
  const received = new Promise((resolve) =>
    reference.server.once('connection', (socket) => {
      const chunks = [];
      socket.on('data', (d) => chunks.push(d));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
    }),
  );
  const client = net.connect(reference.address);
  for (const [chunk, encoding] of calls) client.write(chunk, encoding);
  client.end();
  return received;
}

function bodyOf(stdout) {
  const split = stdout.indexOf('\r\n\r\n');
  assert.ok(split > 0, `a header block in ${JSON.stringify(stdout.toString('latin1').slice(0, 200))}`);
  return stdout.subarray(split + 4);
}

test('each answer is exactly the bytes written, with another client answered just before', async () => {
  const app = await startTestApp({ mode: 'pool', n: 1 });
  try {
    for (const [index, c] of ANSWER_CASES.entries()) {
      // Another client first: its answer leaves SECRET_LINE in the worker's buffers.
      const other = await RawConnection.open(app.address);
      await other.write(request(1, { params: { REQUEST_URI: '/?secret=1' } }));
      const secret = await other.response(1);
      assert.equal(secret.body, SECRET_LINE.repeat(100));
      other.close();

      const conn = await RawConnection.open(app.address);
      await conn.write(request(1, { params: { REQUEST_URI: `/?answer=${index}` } }));
      const answer = await conn.response(1);
      conn.close();
      assert.equal(answer.status, 200, c.name);
      assert.deepEqual(answer.end, { appStatus: 0, protocolStatus: 0 }, c.name);
      const stdoutCalls = [...(c.write ?? []), ...(c.end ? [c.end] : [])];
      const expected = await socketBytes(stdoutCalls);
      const body = bodyOf(answer.stdout);
      assert.ok(body.equals(expected), `${c.name}: ${body.length} bytes answered, ${expected.length} written\n${body.toString('hex').slice(0, 400)}\n${expected.toString('hex').slice(0, 400)}`);
      const stderr = Buffer.concat(conn.records.filter((r) => r.type === 7 && r.requestId === 1).map((r) => r.content));
      assert.ok(stderr.equals(await socketBytes(c.stderr ?? [])), `${c.name}: stderr of ${stderr.length} bytes`);
      const everything = Buffer.concat(conn.records.map((r) => r.content)).toString('latin1');
      assert.ok(!everything.includes('S3CR3T'), `${c.name}: another client's answer leaked into this one`);
      for (const r of conn.records) assert.ok(r.type !== 6 || r.content.length > 0 || r === conn.records.findLast((x) => x.type === 6), `${c.name}: an empty FCGI_STDOUT before the end`);
    }
  } finally {
    app.kill('SIGTERM');
  }
});
