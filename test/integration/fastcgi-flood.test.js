'use strict';
// A peer that floods a worker with records that need an answer (unknown types, FCGI_GET_VALUES,
// whole requests) costs the worker a bounded amount of memory, whether it reads the answers or
// not: once the answers waiting to be written pass a bound, the connection is not read until they
// are. Measured as the worker's peak RSS (VmHWM, reset before each flood) over its RSS before.
// Meanwhile another connection is served. FLOOD_MIB sets the flood's size (default 64).

const test = require('node:test');
const assert = require('node:assert/strict');
const { livePids, sleep, memoryOf, resetPeakMemory } = require('../helpers/helpers');
const { startTestApp, RawConnection, TYPE, record, request, nameValuePairs, getValues } = require('../helpers/fcgi-raw-client');

const FLOOD_BYTES = (Number(process.env.FLOOD_MIB) || 64) * 1024 * 1024;
/**
 * The most the worker's peak RSS may grow during one flood. Answers alone: V8's young generation
 * growing to its working size (about 17 MiB on the first flood, nothing after). Requests: each
 * answered request's objects (req, res, their streams) are garbage V8 lets grow to about 60 MiB
 * before a full collection brings it back to about 10; the peak is the same for a 64 or a 200 MiB
 * flood. Before the bound on unwritten output, 64 MiB of unknown-type records took 3.6 GiB.
 */
const BUDGET_MIB = { answers: 32, requests: 96 };
/** A flood that is not read ends when the worker has taken nothing for this long: it stopped reading. */
const STALL_MS = 1_500;
const FLOOD_SECONDS = 60;

/** About 1 MiB of back-to-back copies of `unit`. */
function block(unit) {
  return Buffer.concat(Array.from({ length: Math.ceil((1024 * 1024) / unit.length) }, () => unit));
}

const FLOODS = {
  'records of an unknown type': { budget: BUDGET_MIB.answers, make: () => block(record(99, 0)) },
  FCGI_GET_VALUES: { budget: BUDGET_MIB.answers, make: () => block(getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'])) },
  // 50 whole requests on ids 1-50, again and again: those whose id is free are answered.
  requests: {
    budget: BUDGET_MIB.requests,
    make: () =>
    block(
      Buffer.concat(
        Array.from({ length: 50 }, (_, i) => request(i + 1, { keepConn: true, params: { REQUEST_URI: '/', REQUEST_METHOD: 'GET' } })),
      ),
    ),
  },
};

/**
 * Sends FLOOD_BYTES of `unit` blocks on one connection, reading what comes back (`read`) or not.
 * Resolves with the bytes the worker took, whether it stopped taking them, and the bytes received.
 */
async function flood(address, blockBytes, { read }) {
  const conn = await RawConnection.open(address, { countStdout: true });
  if (!read) conn.socket.pause();
  else conn.records = new Proxy([], { get: (t, k) => (k === 'push' ? () => 0 : t[k]) }); // counted, not kept
  let sent = 0;
  let stalled = false;
  const deadline = Date.now() + FLOOD_SECONDS * 1000;
  while (sent < FLOOD_BYTES && Date.now() < deadline && !conn.endedState) {
    const written = conn.write(blockBytes);
    const outcome = await Promise.race([written.then(() => 'written'), sleep(STALL_MS).then(() => 'stalled')]);
    if (outcome === 'stalled') {
      stalled = true;
      break;
    }
    sent += blockBytes.length;
  }
  return { conn, sent, stalled };
}

async function servedMeanwhile(address) {
  const other = await RawConnection.open(address);
  await other.write(request(1, { params: { REQUEST_URI: '/' } }));
  const answer = await other.response(1, 10_000);
  other.close();
  return answer.status;
}

test('a flood of records that need answers costs the worker a bounded amount of memory', async (t) => {
  const app = await startTestApp({ mode: 'pool', n: 1 });
  const [worker] = livePids(app);
  try {
    for (const [what, { budget, make }] of Object.entries(FLOODS)) {
      const blockBytes = make();
      for (const read of [true, false]) {
        const label = `${what}, ${read ? 'answers read' : 'answers not read'}`;
        await sleep(200);
        const before = memoryOf(worker);
        resetPeakMemory(worker);
        const started = Date.now();
        const { conn, sent, stalled } = await flood(app.address, blockBytes, { read });
        assert.equal(await servedMeanwhile(app.address), 200, `${label}: another connection is served during the flood`);
        const after = memoryOf(worker);
        const growth = after.peak - before.rss;
        t.diagnostic(
          `${label}: ${(sent / 2 ** 20).toFixed(1)} MiB taken in ${Date.now() - started} ms, ` +
            `${(conn.bytesReceived / 2 ** 20).toFixed(1)} MiB answered; RSS ${before.rss.toFixed(0)} MiB before, ` +
            `peak ${after.peak.toFixed(0)} MiB (+${growth.toFixed(1)})`,
        );
        if (read) assert.ok(sent >= FLOOD_BYTES, `${label}: the whole flood was taken within ${FLOOD_SECONDS} s`);
        else assert.ok(stalled, `${label}: the worker stopped reading a peer that reads nothing (took ${sent} bytes)`);
        assert.ok(growth < budget, `${label}: the worker's peak RSS grew ${growth.toFixed(1)} MiB (budget ${budget})`);
        conn.close();
      }
    }
    assert.deepEqual(livePids(app), [worker], 'the same worker throughout');
  } finally {
    app.kill('SIGTERM');
  }
});
