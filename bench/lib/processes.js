'use strict';
// Every process the bench starts goes through here, so that all of them are stopped at the end,
// also after a failure or Ctrl-C. Each runs in a process group of its own (detached), so a
// manager's workers can be KILLed with it; nothing is ever killed by name.

const { spawn } = require('node:child_process');
const { groupHasMembers } = require('./procfs');

const running = new Set();

/**
 * Starts `command args` and collects its stderr lines (stdout too when `collectStdout`).
 * Returns { name, child, pid, lines, stdout, exited, closed, waitFor(regex, ms), count(regex) };
 * `exited` resolves at the 'exit' event with { code, signal, atNs } (the time the bench saw it).
 */
function start(name, command, args = [], { env = {}, cwd, collectStdout = false } = {}) {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', collectStdout ? 'pipe' : 'ignore', 'pipe'],
    detached: true,
  });
  const proc = {
    name,
    child,
    pid: child.pid,
    lines: [],
    /** When each line arrived (process.hrtime.bigint()), index for index with `lines`. */
    lineTimes: [],
    stdout: '',
    exit: undefined,
    waiters: [],
    waitFor(regex, timeoutMs = 15_000) {
      const found = proc.lines.find((line) => regex.test(line));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${name}: no log line ${regex} within ${timeoutMs} ms; last lines:\n${proc.lines.slice(-10).join('\n')}`));
        }, timeoutMs);
        proc.waiters.push({ regex, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      });
    },
    count(regex) {
      return proc.lines.filter((line) => regex.test(line)).length;
    },
    /** The arrival time of the first line matching `regex` that came after `sinceNs`. */
    lineTime(regex, sinceNs = 0n) {
      const i = proc.lines.findIndex((line, k) => proc.lineTimes[k] >= sinceNs && regex.test(line));
      return i < 0 ? undefined : proc.lineTimes[i];
    },
  };
  proc.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(proc);
      proc.exit = { code, signal, atNs: process.hrtime.bigint() };
      resolve(proc.exit);
    });
  });
  // 'close' also waits for the output pipes, which a worker left behind may still hold open.
  proc.closed = new Promise((resolve) => child.on('close', resolve));
  child.on('error', (err) => proc.lines.push(`spawn error: ${err.message}`));
  running.add(proc);
  let partial = '';
  child.stderr.on('data', (chunk) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop();
    for (const line of parts) {
      proc.lines.push(line);
      proc.lineTimes.push(process.hrtime.bigint());
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[${name} ${child.pid}] ${line}\n`);
      proc.waiters = proc.waiters.filter((w) => (w.regex.test(line) ? (w.resolve(line), false) : true));
    }
  });
  child.stdout?.on('data', (chunk) => (proc.stdout += chunk));
  return proc;
}

/** Sends `signal` to the process itself (not its group); false if it is gone. */
function signal(proc, sig) {
  try {
    process.kill(proc.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Kills what is left of a process group the bench created (only if anything is left in it). */
function killGroup(pgid) {
  if (!groupHasMembers(pgid)) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // the group is empty
  }
}

/**
 * Stops one process: `sig` (TERM) to its pid, up to `graceMs` for it to exit, then KILL to its
 * group, which also takes any worker it left behind.
 */
async function stop(proc, { sig = 'SIGTERM', graceMs = 5_000 } = {}) {
  if (proc.exit === undefined && signal(proc, sig)) {
    await Promise.race([proc.exited, sleep(graceMs)]);
  }
  killGroup(proc.pid);
  await Promise.race([proc.exited, sleep(1_000)]);
}

/** Stops every process still running, in parallel. */
async function stopAll() {
  await Promise.all([...running].map((proc) => stop(proc)));
}

/** Last resort at process exit (synchronous): KILL every group still known. */
function killAllNow() {
  for (const proc of running) killGroup(proc.pid);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = { start, stop, stopAll, killAllNow, signal, sleep };
