'use strict';
// Summarizes V8 .cpuprofile files (node --cpu-prof): self time by area of code and by function.

const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

/** Which part of the stack a frame belongs to. Order matters: the first match wins. */
const AREAS = [
  ['node-fastcgi', (url) => url.includes('/node_modules/node-fastcgi/')],
  ['fastcgi-stream', (url) => url.includes('/node_modules/fastcgi-stream/')],
  ['other npm modules', (url) => url.includes('/node_modules/')],
  ['fcgi-procmanager: FastCGI worker path (dist/fastcgi/)', (url) => url.includes(`${ROOT}/dist/fastcgi/`)],
  ['fcgi-procmanager: rest (dist/)', (url) => url.includes(`${ROOT}/dist/`)],
  ['bench app', (url) => url.includes(`${ROOT}/bench/`)],
  ['node:net / stream / events', (url) => /^node:(net|stream|events|internal\/(streams|stream_base_commons|net))/.test(url)],
  ['node:http (OutgoingMessage)', (url) => /^node:(_http|http|internal\/http)/.test(url)],
  ['other node internals', (url) => url.startsWith('node:')],
];

const SPECIAL = { '(garbage collector)': 'GC', '(program)': 'V8/native (program)', '(idle)': 'idle', '(root)': 'idle' };

function areaOf(frame) {
  if (SPECIAL[frame.functionName] && !frame.url) return SPECIAL[frame.functionName];
  for (const [name, test] of AREAS) if (test(frame.url)) return name;
  return frame.url ? 'other JS' : 'native (no url)';
}

/** Merges profiles and returns { busyMs, areas: [{ area, pct }], functions: [{ name, area, pct }] }. */
function summarizeProfiles(files, topN = 12) {
  const byArea = new Map();
  const byFunction = new Map();
  let busyUs = 0;
  for (const file of files) {
    const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    // Each sample is attributed the time until the next one (timeDeltas[i + 1]).
    const selfUs = new Map();
    for (let i = 0; i < profile.samples.length; i++) {
      const dt = profile.timeDeltas[i + 1] ?? 0;
      selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
    }
    for (const [id, us] of selfUs) {
      const frame = nodes.get(id).callFrame;
      const area = areaOf(frame);
      if (area === 'idle') continue;
      busyUs += us;
      byArea.set(area, (byArea.get(area) ?? 0) + us);
      const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|dist|bench)\//, '$1/')}:${frame.lineNumber + 1}` : '';
      const key = `${frame.functionName || '(anonymous)'} ${where}`.trim();
      const entry = byFunction.get(key) ?? { name: key, area, us: 0 };
      entry.us += us;
      byFunction.set(key, entry);
    }
  }
  const pct = (us) => (busyUs ? (100 * us) / busyUs : 0);
  return {
    busyMs: busyUs / 1000,
    areas: [...byArea].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, pct: pct(us) })),
    functions: [...byFunction.values()].sort((a, b) => b.us - a.us).slice(0, topN).map((f) => ({ name: f.name, area: f.area, pct: pct(f.us) })),
  };
}

module.exports = { summarizeProfiles };
