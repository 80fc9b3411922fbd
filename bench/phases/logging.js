'use strict';
// Logging cost: ProcManager (3) with access_log on (B) against the same pool without it (A), in both
// nginx modes, side by side (lib/ab.js). The access log's line count is checked against the requests
// answered, so a log that silently dropped lines could not look cheap.

const fs = require('node:fs');
const path = require('node:path');
const { compareVariants, abInstances } = require('../lib/ab');
const { summarize } = require('../lib/stats');

const PREFIX = 'log';

function countLines(file) {
  if (!fs.existsSync(file)) return 0;
  const buf = fs.readFileSync(file);
  let n = 0;
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10) n++;
  return n;
}

function variants(dir) {
  const file = (mode) => path.join(dir, `access-${mode}.log`);
  return [
    { key: 'off' },
    {
      key: 'access-log',
      env: (mode) => ({ BENCH_ACCESS_LOG: file(mode) }),
      beforeRun: (mode) => countLines(file(mode)),
      // Lines are written once per turn of the event loop: the last ones get a moment.
      afterRun: async (mode, before, r) => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        return { linesPerRequest: ((countLines(file(mode)) - before) / Math.max(1, r.requests)).toFixed(3) };
      },
    },
  ];
}

function loggingInstances(ids) {
  return ids.includes('pm') ? abInstances(PREFIX, variants('')) : [];
}

async function loggingPhase(ctx, ids, log) {
  if (!ids.includes('pm')) return { skipped: 'backend 3 not run' };
  const result = await compareVariants(ctx, { prefix: PREFIX, variants: variants(ctx.dir), log });
  for (const [mode, s] of Object.entries(result.summary)) {
    s.linesPerRequest = summarize(result.runs.filter((r) => r.mode === mode && r.linesPerRequest !== undefined).map((r) => Number(r.linesPerRequest)));
  }
  return result;
}

module.exports = { loggingPhase, loggingInstances };
