'use strict';
// A peer that floods a worker with records that need an answer (unknown types, FCGI_GET_VALUES,
// whole requests) costs the worker a bounded amount of memory, whether it reads the answers or
// not: once the answers waiting to be written pass a bound, the connection is not read until they
// are. Measured as the worker's live memory during the flood over the same before it (see
// LIVE_BUDGET_MIB); meanwhile another connection is served. FLOOD_MIB sets the flood's size (default 64).

const test = require('node:test');
const assert = require('node:assert/strict');
const { livePids, sleep, memoryOf, resetPeakMemory } = require('../helpers/helpers');
const { startTestApp, liveMemory, RawConnection, TYPE, record, request, nameValuePairs, getValues } = require('../helpers/fcgi-raw-client');

const FLOOD_BYTES = (Number(process.env.FLOOD_MIB) || 64) * 1024 * 1024;
/**
 * What the worker holds during a flood, measured as its live memory (V8's heap and the memory outside
 * it, after two full collections a turn apart, asked for on another connection while the flood's
 * answers still wait) over the same before it: what it keeps, whatever a Node line's collector leaves
 * lying around. (One collection is not enough on Node 24+: dead buffers' backing stores are freed by a
 * sweeper thread after it, and counted as held until the next; CI once saw 40 MiB of them.) Its peak RSS
 * is reported too, not bounded: how far V8 lets garbage grow before it collects differs by line (a flood
 * of answers raised it 17-20 MiB on Node 20, 20-50 on Node 24 and 26). Held was 0-2 MiB on Node 22, 24
 * and 26 (2026-12-07); before the bound on unwritten output, 64 MiB of unknown-type records took 3.6 GiB.
 */
const LIVE_BUDGET_MIB = 16;
/** A flood that is not read ends when the worker has taken nothing for this long: it stopped reading. */
const STALL_MS = 1_500;
const FLOOD_SECONDS = 60;

/** About 1 MiB of back-to-back copies of `unit`. */
function block(unit) {
  return Buffer.concat(Array.from({ length: Math.ceil((1024 * 1024) / unit.length) }, () => unit));
}

/**
 * Each flood, and whether every record in it needs an answer: then a peer that reads none is stopped
 * (the worker reads no more once 256 KiB of answers wait). Whole requests on ids already in flight
 * are dropped unanswered; whether their ids are free again while answers wait differs by Node line.
 */
const FLOODS = {
  'records of an unknown type': { allAnswered: true, make: () => block(record(99, 0)) },
  FCGI_GET_VALUES: { allAnswered: true, make: () => block(getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'])) },
  // 50 whole requests on ids 1-50, again and again: those whose id is free are answered.
  requests: {
    allAnswered: false,
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

test('a flood of records that need answers costs the worker a bounded amount of memory', async (t) => {
  const app = await startTestApp({ mode: 'pool', n: 1, env: { NODE_OPTIONS: '--expose-gc' } });
  const [worker] = livePids(app);
  try {
    for (const [what, { allAnswered, make }] of Object.entries(FLOODS)) {
      const blockBytes = make();
      for (const read of [true, false]) {
        const label = `${what}, ${read ? 'answers read' : 'answers not read'}`;
        await sleep(200);
        const liveBefore = await liveMemory(app.address);
        const before = memoryOf(worker);
        resetPeakMemory(worker);
        const started = Date.now();
        const { conn, sent, stalled } = await flood(app.address, blockBytes, { read });
        // While the flooding connection is still open, its answers unread: another connection is served.
        const held = (await liveMemory(app.address)) - liveBefore;
        const after = memoryOf(worker);
        t.diagnostic(
          `${label}: ${(sent / 2 ** 20).toFixed(1)} MiB taken in ${Date.now() - started} ms, ` +
            `${(conn.bytesReceived / 2 ** 20).toFixed(1)} MiB answered; held ${held.toFixed(1)} MiB; RSS ${before.rss.toFixed(0)} MiB before, ` +
            `peak ${after.peak.toFixed(0)} MiB (+${(after.peak - before.rss).toFixed(1)})`,
        );
        if (read) assert.ok(sent >= FLOOD_BYTES, `${label}: the whole flood was taken within ${FLOOD_SECONDS} s`);
        else if (allAnswered) assert.ok(stalled, `${label}: the worker stopped reading a peer that reads nothing (took ${sent} bytes)`);
        assert.ok(held < LIVE_BUDGET_MIB, `${label}: the worker holds ${held.toFixed(1)} MiB more (budget ${LIVE_BUDGET_MIB})`);
        conn.close();
      }
    }
    assert.deepEqual(livePids(app), [worker], 'the same worker throughout');
  } finally {
    app.kill('SIGTERM');
  }
});
