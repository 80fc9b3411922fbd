'use strict';
// CPU and memory accounting from /proc: the CPU a process tree used between two samples, the
// machine's CPU use (to tell how much of it went to processes outside the bench), RSS and PSS.

const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Microseconds per clock tick (utime etc. are counted in ticks). */
const US_PER_TICK = 1e6 / CLK_TCK;

/** /proc/<pid>/stat, or undefined if the process is gone. Times are in ticks. */
function readStat(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseStat(text);
}

/** Parses one /proc/<pid>/stat line (the command name may hold spaces and parentheses). */
function parseStat(text) {
  const close = text.lastIndexOf(')');
  const f = text.slice(close + 2).trim().split(' ');
  // f[0] is field 3 (state) of proc(5).
  return {
    pid: Number(text.slice(0, text.indexOf(' '))),
    comm: text.slice(text.indexOf('(') + 1, close),
    state: f[0],
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    utime: Number(f[11]),
    stime: Number(f[12]),
    cutime: Number(f[13]),
    cstime: Number(f[14]),
    starttime: Number(f[19]),
    rssPages: Number(f[21]),
  };
}

function allStats() {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (st) out.push(st);
  }
  return out;
}

/** The live processes in the tree under `root` (root included). */
function treeOf(root, stats = allStats()) {
  const children = new Map();
  for (const st of stats) {
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(st);
  }
  const rootStat = stats.find((st) => st.pid === root);
  if (!rootStat) return [];
  const out = [rootStat];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i].pid) ?? []));
  return out;
}

/** Direct children of `pid` that are alive (not zombies). */
function childPids(pid, stats = allStats()) {
  return stats.filter((st) => st.ppid === pid && st.state !== 'Z').map((st) => st.pid);
}

/**
 * CPU time in µs used by the tree under `root`: its live processes' own time plus the time of
 * the children they have reaped (cutime/cstime), so workers replaced during a run still count.
 */
function treeCpuUs(root, stats = allStats()) {
  let ticks = 0;
  for (const st of treeOf(root, stats)) ticks += st.utime + st.stime + st.cutime + st.cstime;
  return ticks * US_PER_TICK;
}

/** One process's own CPU (`self`) and its reaped children's (`children`), in µs. */
function processCpuUs(pid) {
  const st = readStat(pid);
  if (!st) return undefined;
  return { self: (st.utime + st.stime) * US_PER_TICK, children: (st.cutime + st.cstime) * US_PER_TICK };
}

/**
 * CPU time a live process has run, in ns (/proc/<pid>/schedstat). Finer than utime/stime's
 * 10 ms ticks, for nearly idle processes; it does not include reaped children.
 */
function runtimeNs(pid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

/** Machine-wide CPU: busy and total µs summed over all cores, from /proc/stat. */
function systemCpuUs() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
  const total = v.reduce((a, b) => a + b, 0);
  const idle = v[3] + v[4];
  return { busy: (total - idle) * US_PER_TICK, total: total * US_PER_TICK };
}

function statusKb(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function rssKb(pid) {
  return statusKb(pid, 'VmRSS');
}

/** Proportional set size: shared pages split among the processes that share them. */
function pssKb(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function loadAverage() {
  return fs.readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
}

/**
 * TCP connections accepted so far in this network namespace (PassiveOpens in /proc/net/snmp).
 * The backends are on unix sockets, so during a load run through a front this counts the client
 * connections the front accepted from wrk (and anything else on the machine accepting TCP).
 */
function tcpPassiveOpens() {
  try {
    const lines = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Tcp:'));
    const names = lines[0].trim().split(/\s+/);
    const values = lines[1].trim().split(/\s+/);
    const v = Number(values[names.indexOf('PassiveOpens')]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** True if some live process belongs to process group `pgid`. */
function groupHasMembers(pgid) {
  return allStats().some((st) => st.pgrp === pgid && st.state !== 'Z');
}

module.exports = {
  CLK_TCK,
  US_PER_TICK,
  readStat,
  parseStat,
  allStats,
  treeOf,
  childPids,
  treeCpuUs,
  processCpuUs,
  runtimeNs,
  systemCpuUs,
  tcpPassiveOpens,
  rssKb,
  pssKb,
  loadAverage,
  groupHasMembers,
};
