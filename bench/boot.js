#!/usr/bin/env node
'use strict';
// Worker boots with and without the compile cache, side by side: `node bench/boot.js` runs a pool of
// examples/hello.js (2 workers, no load) with compile_cache on and off in turn, HUPs it ROUNDS times,
// and reports for each reload the time from the HUP to "reload complete" (fork to every new worker
// accepting) and each new worker's CPU time by then (its boot: it serves nothing meanwhile). Pools
// alternate which goes first; the first reload of each is not counted (it fills the cache). Run it with
// the Node line to measure (`/path/to/node bench/boot.js`): the workers run that Node.

const fs = require('node:fs');
const path = require('node:path');
const { startHello } = require('../test/helpers/helpers');

const ROUNDS = Number(process.env.ROUNDS || 8);
const CLOCK_TICKS = 100; // getconf CLK_TCK on Linux

function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

async function reloadOnce(pm, generation) {
  const mark = pm.lines.length;
  pm.kill('SIGHUP');
  const line = await pm.waitFor(new RegExp(`reload complete: generation ${generation}, .* in ([\\d.]+) s`), 30_000);
  const seconds = Number(/ in ([\d.]+) s/.exec(line)[1]);
  const pids = pm.lines.slice(mark).map((l) => /server \(pid (\d+)\) started/.exec(l)?.[1]).filter(Boolean).map(Number);
  return { seconds, cpu: pids.map(cpuMs) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** CPU time comes in 10 ms ticks: a mean says more than a median of them. */
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main() {
  const results = { on: { seconds: [], cpu: [] }, off: { seconds: [], cpu: [] } };
  const pools = {};
  for (const mode of ['off', 'on']) {
    pools[mode] = await startHello({ n: 2, env: { PM_COMPILE_CACHE: mode === 'on' ? '1' : '0', PM_RELOAD_WARMUP: '0', PM_BOOT_NICE: '0' } });
    pools[mode].generation = 1;
  }
  try {
    for (let round = 0; round <= ROUNDS; round++) {
      for (const mode of round % 2 ? ['on', 'off'] : ['off', 'on']) {
        const pm = pools[mode];
        const { seconds, cpu } = await reloadOnce(pm, ++pm.generation);
        if (round === 0) continue; // fills the cache
        results[mode].seconds.push(seconds);
        results[mode].cpu.push(...cpu);
      }
    }
  } finally {
    for (const pm of Object.values(pools)) pm.kill('SIGTERM');
  }
  const row = (mode) => `| ${mode} | ${median(results[mode].seconds).toFixed(3)} | ${mean(results[mode].cpu).toFixed(1)} |`;
  console.log(`Node ${process.version}, ${ROUNDS} reloads of 2 workers each way (${new Date().toISOString().slice(0, 10)})\n`);
  console.log('| compile cache | HUP to reload complete, median (s) | boot CPU per worker, mean (ms) |\n|---|---|---|');
  console.log(row('off'));
  console.log(row('on'));
  console.log(`\nratio on/off: reload ${(median(results.on.seconds) / median(results.off.seconds)).toFixed(2)}, boot CPU ${(mean(results.on.cpu) / mean(results.off.cpu)).toFixed(2)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
