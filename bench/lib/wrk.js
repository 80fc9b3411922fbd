'use strict';
// Runs wrk for a bounded time and parses what it reports.

const path = require('node:path');
const processes = require('./processes');
const { parseStat, US_PER_TICK } = require('./procfs');

const SUMMARY_SCRIPT = path.join(__dirname, 'wrk-summary.lua');

/**
 * Parses wrk's output: the JSON line our Lua `done` hook prints, plus the text report's
 * "Requests/sec". Throws if the JSON line is missing (wrk failed before its summary).
 */
function parseWrkOutput(text) {
  const m = /^BENCH_JSON (\{.*\})$/m.exec(text);
  if (!m) throw new Error(`wrk printed no summary:\n${text.slice(-500)}`);
  const s = JSON.parse(m[1]);
  const socketErrors = s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout;
  return {
    requests: s.requests,
    seconds: s.duration_us / 1e6,
    rps: s.requests / (s.duration_us / 1e6),
    non2xx: s.errors.status,
    socketErrors,
    errors: s.errors,
    latencyMs: {
      mean: s.latency_us.mean / 1000,
      p50: s.latency_us.p50 / 1000,
      p90: s.latency_us.p90 / 1000,
      p99: s.latency_us.p99 / 1000,
      max: s.latency_us.max / 1000,
    },
    reportedRps: Number(/^Requests\/sec:\s+([\d.]+)/m.exec(text)?.[1] ?? NaN),
  };
}

/**
 * Runs `wrk --latency` against `url` for `seconds` and resolves with the parsed result.
 * `during(proc)` is called once wrk is started (used to send a reload signal mid-run).
 */
async function runWrk(url, { seconds, connections, threads, timeoutSeconds = 10, during } = {}) {
  const args = [
    `-t${threads}`,
    `-c${connections}`,
    `-d${seconds}s`,
    `--timeout`, `${timeoutSeconds}s`,
    '--latency',
    '-s', SUMMARY_SCRIPT,
    url,
  ];
  // Through a shell that prints its own /proc stat after wrk ends: its cutime/cstime are wrk's
  // CPU time, which a reaped child no longer shows anywhere else.
  const script = 'wrk "$@"; rc=$?; read -r s < /proc/$$/stat; echo "BENCH_SHELL_STAT $s" >&2; exit $rc';
  const proc = processes.start('wrk', 'sh', ['-c', script, 'sh', ...args], { collectStdout: true });
  const extra = during ? during(proc) : undefined;
  // wrk stops itself after `seconds`; the guard stops it if it hangs.
  const guard = setTimeout(() => processes.stop(proc, { sig: 'SIGINT' }), (seconds + timeoutSeconds + 5) * 1000);
  const exit = await proc.exited;
  await Promise.race([proc.closed, processes.sleep(2_000)]); // the rest of its output
  clearTimeout(guard);
  await extra;
  if (exit.code !== 0) throw new Error(`wrk exited with ${exit.code ?? exit.signal}: ${proc.lines.join(' | ')}${proc.stdout.slice(-300)}`);
  const result = parseWrkOutput(proc.stdout);
  const statLine = proc.lines.find((l) => l.startsWith('BENCH_SHELL_STAT '));
  if (statLine) {
    const st = parseStat(statLine.slice('BENCH_SHELL_STAT '.length));
    result.wrkCpuUs = (st.cutime + st.cstime) * US_PER_TICK;
  }
  return result;
}

/**
 * Load before a phase's measured rounds (JIT, caches): `options.warmup` seconds (rounded up) on each
 * URL in turn, with the phase's connections; nothing when the warm-up is 0. `log` says it began.
 */
async function warmUp(urls, options, { connections = options.connections, log } = {}) {
  if (!(options.warmup > 0)) return;
  const seconds = Math.ceil(options.warmup);
  log?.(`warm-up: ${seconds} s per target`);
  for (const url of urls) await runWrk(url, { seconds, connections, threads: options.threads });
}

module.exports = { runWrk, warmUp, parseWrkOutput };
