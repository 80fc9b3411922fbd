'use strict';
// Run options, from flags (--quick, --duration=S, --rounds=R, --workers=N, --connections=C,
// --fronts-connections=C, --phases=a,b, --storm-hups=N, ...) or the matching BENCH_* environment
// variables. Flags win.

const PHASES = ['throughput', 'fronts', 'policy', 'reload', 'reload-storm', 'spread', 'term', 'recovery', 'crashloop', 'scale', 'baseline', 'logging', 'timeouts', 'status', 'boot', 'memory', 'profile'];

const FULL = {
  duration: 10, // seconds per wrk run
  rounds: 3,
  warmup: 2, // seconds of load per target before the first round (JIT, caches)
  reloadDuration: 10, // one wrk run per reload, HUP at a third of it
  reloadWindow: 2, // seconds after the HUP counted as the reload window
  stormHups: 16, // reload-storm: HUPs spread evenly over stormSeconds
  stormSeconds: 8,
  stormLead: 1, // seconds of load before the first HUP (and after the storm window)
  crashSeconds: 5, // how long a crash loop is let run
  idleSeconds: 10, // idle window for the 64-worker manager
  profileSeconds: 5,
  policyRepeats: 8,
  bootRepeats: 12, // boot: kill -9 and replacement per backend
  policySeconds: 4,
};

const QUICK = {
  duration: 2,
  rounds: 1,
  warmup: 0.5,
  reloadDuration: 3,
  reloadWindow: 1,
  stormHups: 6,
  stormSeconds: 3,
  stormLead: 0.5,
  crashSeconds: 2,
  idleSeconds: 3,
  profileSeconds: 2,
  policyRepeats: 2,
  bootRepeats: 3,
  policySeconds: 1,
};

function parseOptions(argv = process.argv.slice(2), env = process.env) {
  const flags = {};
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`bench: unknown argument ${JSON.stringify(arg)} (see bench/README.md)`);
    flags[m[1]] = m[2] ?? '1';
  }
  const pick = (flag, name) => flags[flag] ?? env[`BENCH_${name}`];
  const quick = ['1', 'true', 'yes'].includes(String(pick('quick', 'QUICK') ?? '').toLowerCase());
  const base = quick ? QUICK : FULL;
  const num = (flag, name, fallback, { integer = false, min = 0 } = {}) => {
    const raw = pick(flag, name);
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new Error(`bench: --${flag} / BENCH_${name} must be a ${integer ? 'whole ' : ''}number >= ${min}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  const phasesRaw = pick('phases', 'PHASES');
  const phases = phasesRaw ? String(phasesRaw).split(',').map((p) => p.trim()).filter(Boolean) : PHASES;
  for (const p of phases) {
    if (!PHASES.includes(p)) throw new Error(`bench: unknown phase ${JSON.stringify(p)}; phases are ${PHASES.join(', ')}`);
  }
  const options = {
    quick,
    phases,
    duration: num('duration', 'DURATION', base.duration, { min: 1 }),
    rounds: num('rounds', 'ROUNDS', base.rounds, { integer: true, min: 1 }),
    warmup: num('warmup', 'WARMUP', base.warmup),
    workers: num('workers', 'WORKERS', 2, { integer: true, min: 1 }),
    keepalive: num('keepalive', 'KEEPALIVE', undefined, { integer: true, min: 1 }),
    keepaliveNode: num('keepalive-node', 'KEEPALIVE_NODE', undefined, { integer: true, min: 1 }),
    connections: num('connections', 'CONNECTIONS', 32, { integer: true, min: 1 }),
    frontsConnections: num('fronts-connections', 'FRONTS_CONNECTIONS', 16, { integer: true, min: 1 }),
    threads: num('threads', 'THREADS', 1, { integer: true, min: 1 }),
    reloadDuration: num('reload-duration', 'RELOAD_DURATION', base.reloadDuration, { min: 2 }),
    reloadWindow: base.reloadWindow,
    stormHups: num('storm-hups', 'STORM_HUPS', base.stormHups, { integer: true, min: 1 }),
    stormSeconds: num('storm-seconds', 'STORM_SECONDS', base.stormSeconds, { min: 1 }),
    stormLead: base.stormLead,
    baselineRef: String(pick('baseline-ref', 'BASELINE_REF') ?? '62f111b'),
    // The last commit before the boot-time cuts (lazy loading of the manager's modules).
    bootRef: String(pick('boot-ref', 'BOOT_REF') ?? 'aba7143'),
    bootRepeats: num('boot-repeats', 'BOOT_REPEATS', base.bootRepeats, { integer: true, min: 1 }),
    maxRequests: num('max-requests', 'MAX_REQUESTS', 1000, { integer: true, min: 1 }),
    crashSeconds: num('crash-seconds', 'CRASH_SECONDS', base.crashSeconds, { min: 1 }),
    scaleWorkers: num('scale-workers', 'SCALE_WORKERS', 64, { integer: true, min: 1 }),
    idleSeconds: num('idle-seconds', 'IDLE_SECONDS', base.idleSeconds, { min: 1 }),
    profileSeconds: base.profileSeconds,
    policyRepeats: num('policy-repeats', 'POLICY_REPEATS', base.policyRepeats, { integer: true, min: 1 }),
    policySeconds: num('policy-seconds', 'POLICY_SECONDS', base.policySeconds, { integer: true, min: 1 }),
  };
  // nginx's upstream keepalive pools (see context.js): one-connection-at-a-time workers get one
  // idle connection per worker, Node workers one per client connection.
  options.keepalive ??= options.workers;
  options.keepaliveNode ??= options.connections;
  return options;
}

module.exports = { parseOptions, PHASES };
