'use strict';
// ProcManager (3) and Perl's FCGI::ProcManager (4) behind other web servers than nginx: lighttpd
// (mod_fastcgi) and Apache 2.4 (mod_proxy_fcgi), with nginx (plain mode) beside them for
// reference. These two pass a backend's hop-by-hop `Connection` header on to the client and close
// its keep-alive connection when it says `close`, which node:http's ServerResponse adds on its own
// (the worker path leaves it out). `wrk -c<frontsConnections>` (16) per target, the targets
// interleaved over the rounds; req/s and the ratio 3/4 per front, per round.

const procfs = require('../lib/procfs');
const { runWrk, warmUp } = require('../lib/wrk');
const { keepAliveProbe } = require('../lib/http');
const { FRONTS, startFront } = require('../lib/fronts');
const { fileSize, readSince, countErrorLines } = require('../lib/nginx');
const { summarize } = require('../lib/stats');

const FRONT_BACKENDS = ['pm', 'perl'];

function frontInstanceName(id) {
  return `front-${id}`;
}

async function frontsPhase(ctx, backendIds, log) {
  const { options, peers } = ctx;
  const ids = FRONT_BACKENDS.filter((id) => backendIds.includes(id));
  const skipped = [];
  for (const id of FRONT_BACKENDS) if (!ids.includes(id)) skipped.push({ what: id, reason: 'backend not available (see Skipped above)' });
  const frontIds = ['nginx'];
  for (const [id, bin] of [['lighttpd', peers.lighttpd], ['apache', peers.apache]]) {
    if (bin) frontIds.push(id);
    else {
      const reason = id === 'lighttpd' ? 'lighttpd not installed (Debian: lighttpd)' : 'Apache 2.4 with mod_proxy_fcgi not installed (Debian: apache2)';
      skipped.push({ what: id, reason });
      log(`fronts: skipping ${id}: ${reason}`);
    }
  }

  const instances = [];
  const started = [];
  const targets = [];
  const probes = {};
  const runs = [];
  try {
    for (const id of ids) instances.push(await ctx.launch(id, { name: frontInstanceName(id) }));
    const upstreams = instances.map((i) => ({ name: i.name, socket: i.socket }));
    const fronts = {
      nginx: { kind: 'nginx', proc: ctx.nginx.proc, errorLog: ctx.nginx.errorLog, url: (name) => ctx.nginx.url('plain', name) },
    };
    for (const kind of frontIds.filter((f) => f !== 'nginx')) {
      try {
        fronts[kind] = await startFront(kind, { peers, dir: ctx.dir, upstreams, threads: Math.max(32, 2 * options.frontsConnections) });
        started.push(fronts[kind]);
      } catch (err) {
        skipped.push({ what: kind, reason: err.message.slice(0, 300) });
        log(`fronts: skipping ${kind}: ${err.message}`);
      }
    }
    for (const kind of frontIds) {
      if (!fronts[kind]) continue;
      for (const instance of instances) {
        const key = `${kind}/${instance.id}`;
        targets.push({ key, front: kind, backend: instance.id, url: fronts[kind].url(instance.name), root: instance.proc.pid, frontPid: fronts[kind].proc.pid, errorLog: fronts[kind].errorLog });
      }
    }

    // Does the front keep a client's connection across two requests (no Connection header sent)?
    for (const t of targets) {
      probes[t.key] = await keepAliveProbe(t.url);
      log(`fronts: ${t.key.padEnd(16)} client connection kept: ${probes[t.key].kept ? 'yes' : 'NO'}${probes[t.key].connection ? ` (Connection: ${probes[t.key].connection})` : ''}`);
    }

    await warmUp(targets.map((t) => t.url), options, { connections: options.frontsConnections, log: (msg) => log(`fronts: ${msg}`) });
    for (let round = 1; round <= options.rounds; round++) {
      for (const t of targets) {
        const r = await measureFront(t, { seconds: options.duration, connections: options.frontsConnections, threads: options.threads });
        runs.push({ round, key: t.key, front: t.front, backend: t.backend, ...r });
        log(
          `fronts: round ${round} ${t.key.padEnd(16)} ${r.rps.toFixed(0).padStart(6)} req/s  p99 ${r.latencyMs.p99.toFixed(2)} ms  ` +
            `${r.cpu.backendUsPerReq?.toFixed(0) ?? '-'} µs/req  front ${r.cpu.frontUsPerReq?.toFixed(0) ?? '-'} µs/req  ` +
            `client conns/1k req ${r.clientConnectionsPer1k?.toFixed(1) ?? '-'}  failed ${r.failed}  others ${r.cpu.othersPct?.toFixed(0)}%`,
        );
      }
    }
  } finally {
    for (const front of started) await ctx.stop(front);
    for (const instance of instances) await ctx.stop(instance);
  }

  return {
    connections: options.frontsConnections,
    fronts: targets.filter((t, i, all) => all.findIndex((u) => u.front === t.front) === i).map((t) => ({ id: t.front, label: FRONTS[t.front].label, version: versionOf(t.front, peers) })),
    skipped,
    targets: targets.map(({ key, front, backend }) => ({ key, front, backend })),
    probes,
    runs,
    summary: summarizeRuns(targets, runs, probes),
    ratios: ratios(runs, targets, options.rounds),
  };
}

function versionOf(front, peers) {
  return { nginx: peers.versions.nginx, lighttpd: peers.versions.lighttpd, apache: peers.versions.apache }[front];
}

/** One wrk run through a front, with the CPU of the backend's and the front's process trees. */
async function measureFront(t, { seconds, connections, threads }) {
  const errorOffset = fileSize(t.errorLog);
  const before = sample(t);
  const wrk = await runWrk(t.url, { seconds, connections, threads });
  const after = sample(t);
  const req = Math.max(1, wrk.requests);
  const logText = readSince(t.errorLog, errorOffset);
  // nginx's lines have levels; lighttpd's and Apache's (LogLevel warn) are all worth a look.
  const errorLines = t.front === 'nginx' ? countErrorLines(logText).failures : logText.split('\n').filter(Boolean).length;
  const backendUs = after.backend - before.backend;
  const frontUs = after.front - before.front;
  const busyUs = after.system.busy - before.system.busy;
  const totalUs = after.system.total - before.system.total;
  const othersUs = busyUs - backendUs - frontUs - (wrk.wrkCpuUs ?? 0);
  const opened = after.passiveOpens !== undefined && before.passiveOpens !== undefined ? after.passiveOpens - before.passiveOpens : undefined;
  return {
    ...wrk,
    failed: wrk.non2xx + wrk.socketErrors,
    errorLines,
    errorSample: logText.split('\n').find(Boolean)?.slice(0, 240),
    clientConnections: opened,
    clientConnectionsPer1k: opened === undefined ? undefined : (1000 * opened) / req,
    cpu: {
      backendUsPerReq: backendUs / req,
      frontUsPerReq: frontUs / req,
      othersPct: totalUs > 0 ? (100 * Math.max(0, othersUs)) / totalUs : undefined,
    },
  };
}

function sample(t) {
  const stats = procfs.allStats();
  return {
    backend: procfs.treeCpuUs(t.root, stats),
    front: procfs.treeCpuUs(t.frontPid, stats),
    system: procfs.systemCpuUs(),
    passiveOpens: procfs.tcpPassiveOpens(),
  };
}

function summarizeRuns(targets, runs, probes) {
  const out = {};
  for (const t of targets) {
    const rs = runs.filter((r) => r.key === t.key);
    out[t.key] = {
      front: t.front,
      backend: t.backend,
      kept: probes[t.key]?.kept,
      connectionHeader: probes[t.key]?.connection,
      rps: summarize(rs.map((r) => r.rps)),
      p50Ms: summarize(rs.map((r) => r.latencyMs.p50)),
      p99Ms: summarize(rs.map((r) => r.latencyMs.p99)),
      backendUsPerReq: summarize(rs.map((r) => r.cpu.backendUsPerReq)),
      frontUsPerReq: summarize(rs.map((r) => r.cpu.frontUsPerReq)),
      clientConnectionsPer1k: summarize(rs.map((r) => r.clientConnectionsPer1k)),
      othersPct: summarize(rs.map((r) => r.cpu.othersPct)),
      failed: rs.reduce((n, r) => n + r.failed, 0),
      errorLines: rs.reduce((n, r) => n + r.errorLines, 0),
      errorSample: rs.find((r) => r.errorSample)?.errorSample,
    };
  }
  return out;
}

/** 3/4 (ProcManager / Perl) behind each front, per round. */
function ratios(runs, targets, rounds) {
  const out = [];
  for (const front of [...new Set(targets.map((t) => t.front))]) {
    const perRound = [];
    const cpuPerRound = [];
    for (let round = 1; round <= rounds; round++) {
      const a = runs.find((r) => r.round === round && r.key === `${front}/pm`);
      const b = runs.find((r) => r.round === round && r.key === `${front}/perl`);
      if (a && b) {
        perRound.push(a.rps / b.rps);
        cpuPerRound.push(a.cpu.backendUsPerReq / b.cpu.backendUsPerReq);
      }
    }
    if (perRound.length) out.push({ front, rps: summarize(perRound), cpuPerReq: summarize(cpuPerRound) });
  }
  return out;
}

module.exports = { frontsPhase, frontInstanceName, FRONT_BACKENDS };
