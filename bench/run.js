#!/usr/bin/env node
'use strict';
// `npm run bench`: this project's ProcManager side by side with bare node-fastcgi, a naive
// node:cluster pool, Perl's FCGI::ProcManager and PHP-FPM, all behind one nginx, in one run (and,
// in the fronts phase, ProcManager and Perl's behind lighttpd and Apache too).
// Prints a markdown report and writes JSON under bench/results/. See bench/README.md.

const fs = require('node:fs');
const path = require('node:path');
const { parseOptions } = require('./lib/options');
const { detectPeers, machine, ROOT } = require('./lib/peers');
const { availableBackends } = require('./lib/backends');
const { BenchContext } = require('./lib/context');
const processes = require('./lib/processes');
const procfs = require('./lib/procfs');
const { renderReport } = require('./lib/report');
const { throughputPhase, throughputInstanceName } = require('./phases/throughput');
const { frontsPhase, frontInstanceName, FRONT_BACKENDS } = require('./phases/fronts');
const { MODES } = require('./lib/nginx');
const { policyPhase } = require('./phases/policy');
const { reloadPhase } = require('./phases/reload');
const { reloadStormPhase, stormInstances, writeReloadStormArtifacts } = require('./phases/reload-storm');
const { termPhase } = require('./phases/term');
const { recoveryPhase } = require('./phases/recovery');
const { crashLoopPhase } = require('./phases/crashloop');
const { scalePhase } = require('./phases/scale');
const { profilePhase } = require('./phases/profile');
const { loggingPhase, loggingInstances } = require('./phases/logging');
const { baselinePhase, baselineInstances } = require('./phases/baseline');
const { timeoutsPhase, timeoutsInstances } = require('./phases/timeouts');
const { statusPhase, statusInstances } = require('./phases/status');
const { bootPhase, bootInstances } = require('./phases/boot');
const { memoryPhase, memoryInstances } = require('./phases/memory');
const { spreadPhase, spreadInstances } = require('./phases/spread');

const ALL_BACKENDS = ['bare', 'cluster-rr', 'cluster-none', 'pm', 'pm-asis', 'pm-patched', 'perl', 'php'];
const MANAGERS = ['pm', 'perl', 'php'];

/**
 * Each phase: the instances it needs behind nginx ({ name, id }), how to run it, and optionally
 * the files it writes next to the report (`artifacts(result, base, options)`, before the report).
 */
const PHASES = {
  throughput: {
    instances: (ids) => MODES.flatMap((mode) => ids.map((id) => ({ id, name: throughputInstanceName(id, mode) }))),
    run: (ctx, ids, log) => throughputPhase(ctx, ids, log),
  },
  fronts: {
    instances: (ids) => ids.filter((id) => FRONT_BACKENDS.includes(id)).map((id) => ({ id, name: frontInstanceName(id) })),
    run: (ctx, ids, log) => frontsPhase(ctx, ids, log),
  },
  policy: {
    instances: (ids) => ids.filter((id) => ['cluster-rr', 'cluster-none', 'pm-asis', 'pm'].includes(id)).map((id) => ({ id, name: `policy-${id}` })),
    run: (ctx, ids, log) => policyPhase(ctx, ids, log),
  },
  reload: {
    instances: (ids) => managers(ids).map((id) => ({ id, name: `reload-${id}` })),
    run: (ctx, ids, log) => reloadPhase(ctx, managers(ids), log),
  },
  'reload-storm': {
    instances: (ids) => stormInstances(ids),
    run: (ctx, ids, log) => reloadStormPhase(ctx, ids, log),
    // The timeline SVG next to the report (and docs/reload-storm.svg from full runs).
    artifacts: (result, base, options) => writeReloadStormArtifacts(result, base, options),
  },
  term: {
    instances: (ids) => managers(ids).map((id) => ({ id, name: `term-${id}` })),
    run: (ctx, ids, log) => termPhase(ctx, managers(ids), log),
  },
  recovery: {
    instances: (ids) => managers(ids).map((id) => ({ id, name: `recovery-${id}` })),
    run: (ctx, ids, log) => recoveryPhase(ctx, managers(ids), log),
  },
  crashloop: {
    instances: (ids) => ids.filter((id) => id === 'pm' || id === 'perl').map((id) => ({ id, name: `crash-${id}` })),
    run: (ctx, ids, log) => crashLoopPhase(ctx, ids.filter((id) => id === 'pm' || id === 'perl'), log),
  },
  scale: {
    instances: (ids) => ids.filter((id) => ['pm', 'bare', 'perl', 'php'].includes(id)).map((id) => ({ id, name: `scale-${id}` })),
    run: (ctx, ids, log) => scalePhase(ctx, ids, log),
  },
  baseline: {
    instances: (ids, options) => baselineInstances(ids, options),
    run: (ctx, ids, log) => baselinePhase(ctx, ids, log),
  },
  timeouts: {
    instances: (ids) => timeoutsInstances(ids),
    run: (ctx, ids, log) => timeoutsPhase(ctx, ids, log),
  },
  status: {
    instances: (ids) => statusInstances(ids),
    run: (ctx, ids, log) => statusPhase(ctx, ids, log),
  },
  logging: {
    instances: (ids) => loggingInstances(ids),
    run: (ctx, ids, log) => loggingPhase(ctx, ids, log),
  },
  boot: {
    instances: (ids, options) => bootInstances(ids, options),
    run: (ctx, ids, log) => bootPhase(ctx, ids, log),
  },
  spread: {
    instances: (ids) => spreadInstances(ids),
    run: (ctx, ids, log) => spreadPhase(ctx, ids, log),
  },
  memory: {
    instances: (ids) => memoryInstances(ids),
    run: (ctx, ids, log) => memoryPhase(ctx, ids, log),
  },
  profile: {
    instances: (ids) => ids.filter((id) => ['pm', 'pm-asis', 'perl', 'php'].includes(id)).map((id) => ({ id, name: `profile-${id}` })),
    run: (ctx, ids, log) => profilePhase(ctx, ids, log),
  },
};

function managers(ids) {
  return ids.filter((id) => MANAGERS.includes(id));
}

function log(msg) {
  process.stderr.write(`bench: ${msg}\n`);
}

async function main() {
  const options = parseOptions();
  const peers = detectPeers();
  if (!peers.nginx || !peers.wrk) {
    throw new Error(`nginx and wrk are required; missing: ${peers.missing.join(', ')} (see bench/README.md)`);
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  }
  const { ok: backendIds, skipped } = availableBackends(ALL_BACKENDS, peers);
  for (const s of skipped) log(`skipping backend ${s.id}: ${s.reason}`);

  const started = Date.now();
  const results = {
    startedAt: new Date(started).toISOString(),
    options,
    machine: machine(),
    versions: peers.versions,
    skipped,
    loadAverage: { before: procfs.loadAverage() },
    phases: {},
  };
  if (results.loadAverage.before[0] > 1) {
    log(`warning: the machine is busy (load average ${results.loadAverage.before[0]}): figures will be noisy; see the "others %" column`);
  }
  log(`${options.quick ? 'quick' : 'full'} run: phases ${options.phases.join(', ')}; ${options.rounds} round(s) of ${options.duration} s; load average ${results.loadAverage.before.join(' ')}`);

  const ctx = new BenchContext(options, peers);
  const onSignal = (sig) => {
    log(`${sig}: stopping every process the bench started`);
    processes.stopAll().finally(() => {
      if (!process.env.BENCH_KEEP_TMP) fs.rmSync(ctx.dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', processes.killAllNow);

  try {
    await ctx.startNginx(options.phases.flatMap((p) => PHASES[p].instances(backendIds, options)));
    for (const phase of options.phases) {
      const t0 = Date.now();
      log(`phase ${phase}`);
      results.phases[phase] = await PHASES[phase].run(ctx, backendIds, log);
      log(`phase ${phase} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
  } finally {
    await ctx.close();
  }

  results.loadAverage.after = procfs.loadAverage();
  results.wallSeconds = (Date.now() - started) / 1000;
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = results.startedAt.replace(/[:.]/g, '-');
  const base = path.join(dir, `bench-${stamp}${options.quick ? '-quick' : ''}`);
  for (const phase of options.phases) {
    if (PHASES[phase].artifacts && results.phases[phase]) PHASES[phase].artifacts(results.phases[phase], base, options);
  }
  const markdown = renderReport(results);
  fs.writeFileSync(`${base}.json`, JSON.stringify(results, null, 2));
  fs.writeFileSync(`${base}.md`, markdown);
  process.stdout.write(markdown);
  const svg = results.phases['reload-storm']?.svg;
  if (svg) log(`wrote ${svg}${results.phases['reload-storm'].svgDocs ? ` and ${results.phases['reload-storm'].svgDocs}` : ''}`);
  log(`wrote ${path.relative(ROOT, base)}.json and .md; wall time ${results.wallSeconds.toFixed(0)} s`);
}

main().catch((err) => {
  log(`error: ${err.message}`);
  if (process.env.BENCH_VERBOSE) console.error(err);
  processes.stopAll().finally(() => process.exit(1));
});
