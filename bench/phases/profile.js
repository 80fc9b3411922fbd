'use strict';
// Where the time goes: a V8 CPU profile of ProcManager's workers under load (node --cpu-prof),
// and system calls per request for ProcManager, Perl and PHP-FPM workers (strace -c), each
// under the same wrk load for a few seconds.

const fs = require('node:fs');
const path = require('node:path');
const procfs = require('../lib/procfs');
const processes = require('../lib/processes');
const { runWrk } = require('../lib/wrk');
const { summarizeProfiles } = require('../lib/cpuprofile');

async function profilePhase(ctx, ids, log) {
  const { options, nginx } = ctx;
  const out = {};
  out.cpuProfiles = {};
  for (const [id, mode] of [['pm', 'plain'], ['pm', 'keep'], ['pm-asis', 'plain']]) {
    if (ids.includes(id)) out.cpuProfiles[`${id}/${mode}`] = { backend: id, mode, ...(await cpuProfile(ctx, id, mode, log)) };
  }
  if (haveStrace()) {
    out.syscalls = {};
    for (const id of ids.filter((x) => ['pm', 'pm-asis', 'perl', 'php'].includes(x))) {
      const name = `profile-${id}`;
      const instance = await ctx.launch(id, { name });
      out.syscalls[id] = await syscallsPerRequest(ctx, instance, nginx.url('plain', name), options);
      await ctx.stop(instance);
      const s = out.syscalls[id];
      log(`${id.padEnd(5)} ${s.perRequest.toFixed(1)} syscalls per request: ${s.top.map((t) => `${t.name} ${t.perRequest.toFixed(2)}`).join(', ')}`);
    }
  } else {
    out.syscalls = { skipped: 'strace not installed' };
  }
  return out;
}

async function cpuProfile(ctx, id, mode, log) {
  const { options, nginx } = ctx;
  const name = `profile-${id}`;
  const profDir = path.join(ctx.dir, `cpu-prof-${id}-${mode}`);
  fs.mkdirSync(profDir, { recursive: true });
  // node:cluster forks workers with the manager's execArgv, so they are profiled too.
  const instance = await ctx.launch(id, { name, mode, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
  const wrk = await runWrk(nginx.url(mode, name), { seconds: options.profileSeconds, connections: options.connections, threads: options.threads });
  // A worker writes its profile when it exits; TERM lets every one exit normally.
  await ctx.stop(instance, { graceMs: 15_000 });
  const files = fs
    .readdirSync(profDir)
    .filter((f) => f.endsWith('.cpuprofile') && !f.includes(`.${instance.proc.pid}.`)) // not the manager's
    .map((f) => path.join(profDir, f));
  if (files.length === 0) return { skipped: 'no worker profile was written' };
  const summary = summarizeProfiles(files);
  log(`${id} (${mode}) CPU profile of ${files.length} workers (${wrk.requests} requests): ${summary.areas.slice(0, 5).map((a) => `${a.area} ${a.pct.toFixed(0)}%`).join(', ')}`);
  // Sampling slows the workers down, so only the shares are reported, not the time per request.
  return { requests: wrk.requests, workers: files.length, ...summary };
}

function haveStrace() {
  return fs.existsSync('/usr/bin/strace') || fs.existsSync('/bin/strace');
}

/** strace -c on every worker of `instance` during a wrk run; calls per answered request. */
async function syscallsPerRequest(ctx, instance, url, options) {
  const workers = procfs.childPids(instance.proc.pid);
  const target = workers.length ? workers : [instance.proc.pid];
  const outFile = path.join(ctx.dir, `strace-${instance.name}.txt`);
  const strace = processes.start('strace', 'strace', ['-c', '-f', '-o', outFile, ...target.flatMap((pid) => ['-p', String(pid)])]);
  await processes.sleep(500); // attached
  const wrk = await runWrk(url, { seconds: options.profileSeconds, connections: options.connections, threads: options.threads });
  processes.signal(strace, 'SIGINT'); // detaches and writes its summary
  await Promise.race([strace.exited, processes.sleep(5_000)]);
  const table = parseStraceSummary(fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8') : '');
  const requests = Math.max(1, wrk.requests);
  return {
    requests: wrk.requests,
    perRequest: table.total / requests,
    top: table.rows.slice(0, 6).map((r) => ({ name: r.name, perRequest: r.calls / requests })),
  };
}

/** Parses strace -c's table: rows of "% time seconds usecs/call calls [errors] syscall". */
function parseStraceSummary(text) {
  const rows = [];
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\S+)\s*$/.exec(line);
    if (!m) continue;
    if (m[3] === 'total') total = Number(m[1]);
    else rows.push({ name: m[3], calls: Number(m[1]) });
  }
  rows.sort((a, b) => b.calls - a.calls);
  return { total: total || rows.reduce((n, r) => n + r.calls, 0), rows };
}

module.exports = { profilePhase, parseStraceSummary };
