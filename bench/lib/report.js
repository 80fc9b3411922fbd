'use strict';
// The markdown report printed at the end of a run (and saved next to the JSON).

const { BACKENDS } = require('./backends');

const fmt = (x, digits = 0) => (x === undefined || x === null || Number.isNaN(x) ? '–' : Number(x).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));
/** "median (min–max)", or just the median with one round. */
const range = (s, digits = 0) => (!s ? '–' : s.n > 1 ? `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})` : fmt(s.median, digits));
const med = (s, digits = 0) => (!s ? '–' : fmt(s.median, digits));

function label(id) {
  const def = BACKENDS[id];
  return def ? `${def.tag} ${def.label}` : id;
}

function table(headers, rows, align) {
  const out = [`| ${headers.join(' | ')} |`, `|${headers.map((_, i) => (align?.[i] === 'l' ? ':---' : '---:')).join('|')}|`];
  for (const row of rows) out.push(`| ${row.join(' | ')} |`);
  return out.join('\n');
}

function renderReport(results) {
  const { options, machine, versions, phases } = results;
  const L = [];
  L.push('# fcgi-procmanager benchmark', '');
  L.push(
    `${options.quick ? '**Quick run** (not for publishing)' : 'Full run'} of ${results.startedAt}, ${fmt(results.wallSeconds)} s wall time. ` +
      `${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}. ` +
      `Node ${versions.node}, node-fastcgi ${versions.nodeFastcgi}, fcgi-procmanager ${versions.project}; ` +
      `${versions.nginx}, ${versions.wrk}; Perl ${versions.perl ?? '–'} with FCGI ${versions.perlFcgi ?? '–'} and FCGI::ProcManager ${versions.perlFcgiProcManager ?? '–'}; ${versions.phpFpm ?? 'no PHP-FPM'}.`,
  );
  L.push('');
  L.push(
    `Load: \`wrk -t${options.threads} -c${options.connections} -d${options.duration}s\` through nginx (1 worker process) to unix sockets; ` +
      `${options.workers} workers per pool; ${options.rounds} round(s), backends interleaved; figures are median (min–max) over rounds. ` +
      `Load average before ${results.loadAverage.before.join(' ')}, after ${results.loadAverage.after?.join(' ') ?? '–'}.`,
  );
  for (const s of results.skipped ?? []) L.push('', `Skipped: ${label(s.id)}: ${s.reason}.`);
  L.push('');
  if (phases.throughput) renderThroughput(L, phases.throughput, options);
  if (phases.fronts) renderFronts(L, phases.fronts, options);
  if (phases.policy) renderPolicy(L, phases.policy);
  if (phases.reload) renderReload(L, phases.reload);
  if (phases['reload-storm']) renderReloadStorm(L, phases['reload-storm']);
  if (phases.term) renderTerm(L, phases.term);
  if (phases.recovery) renderRecovery(L, phases.recovery);
  if (phases.crashloop) renderCrashLoop(L, phases.crashloop);
  if (phases.scale) renderScale(L, phases.scale);
  if (phases.baseline) renderBaseline(L, phases.baseline);
  if (phases.logging) renderLogging(L, phases.logging);
  if (phases.timeouts) renderTimeouts(L, phases.timeouts);
  if (phases.status) renderStatusPhase(L, phases.status);
  if (phases.boot) renderBoot(L, phases.boot);
  if (phases.spread) renderSpread(L, phases.spread);
  if (phases.memory) renderMemory(L, phases.memory);
  if (phases.profile) renderProfile(L, phases.profile, phases.throughput);
  renderTargets(L, phases);
  return L.join('\n') + '\n';
}

function renderThroughput(L, t, options) {
  L.push('## Steady throughput', '');
  L.push(
    '`plain`: a new FastCGI connection per request. `keep`: `fastcgi_keep_conn on` and an upstream `keepalive` pool of ' +
      `${options.keepaliveNode} for the Node backends (a worker serves many connections) and ${options.keepalive} (one per worker) for Perl and PHP-FPM. CPU µs/req: utime+stime of the backend's whole process tree (manager included) ` +
      "per request, from /proc. *Failed*: non-2xx answers and socket errors seen by wrk. *nginx errors*: error-log lines (with `keep`, nginx logs one and retries when a backend closed a pooled connection; the client still gets its 200). " +
      '*Others*: machine CPU outside backend, nginx and wrk (loopback softirq and other people\'s processes), the noise indicator.',
  );
  L.push('');
  const rows = [];
  for (const s of Object.values(t.summary)) {
    rows.push([
      s.backend === 'nginx' ? 'nginx `return 200`' : label(s.backend),
      s.mode,
      range(s.rps),
      med(s.p50Ms, 2),
      med(s.p99Ms, 2),
      s.backend === 'nginx' ? '–' : range(s.backendUsPerReq),
      med(s.nginxUsPerReq),
      fmt(s.failed),
      fmt(s.nginxErrorLines),
      s.backend === 'nginx' ? '–' : med(s.workerRssMiB ?? s.topRssMiB, 1),
      med(s.othersPct, 1),
    ]);
  }
  L.push(table(['backend', 'mode', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'nginx µs/req', 'failed', 'nginx errors', 'worker RSS MiB', 'others %'], rows, ['l', 'l']));
  L.push('');
  const samples = Object.values(t.summary).filter((s) => s.nginxErrorSamples?.length);
  if (samples.length) {
    L.push('nginx error-log lines seen:', '');
    for (const s of samples) L.push(`- ${label(s.backend)} (${s.mode}): \`${s.nginxErrorSamples[0]}\``);
    L.push('');
  }
  L.push('### Ratios (computed per round, side by side)', '');
  L.push(table(['ratio', 'mode', 'req/s ratio', 'CPU/req ratio'], t.ratios.map((r) => [r.name, r.mode, range(r.rps, 3), range(r.cpuPerReq, 2)]), ['l', 'l']));
  L.push('');
}

function renderFronts(L, f, options) {
  L.push('## Behind other web servers: nginx, lighttpd, Apache', '');
  L.push(
    `\`wrk -t${options.threads} -c${f.connections} -d${options.duration}s\` through each front to ${label('pm')} and ${label('perl')}, ` +
      `${options.workers} workers each, a new FastCGI connection per request (nginx: plain mode; lighttpd's mod_fastcgi; Apache's mod_proxy_fcgi, ` +
      "`enablereuse` off, event MPM with one child), the client keep-alive of each server's defaults; targets interleaved over the rounds. " +
      `Fronts: ${f.fronts.map((x) => `${x.id} ${x.version ?? ''}`.trim()).join(', ')}. ` +
      '*Kept*: a client that sends no Connection header (as wrk) gets its second request served on the same connection. ' +
      '*Client conns/1k req*: TCP connections the machine accepted per 1,000 requests during the run (PassiveOpens; wrk reconnects after every ' +
      '`Connection: close`). CPU µs/req: the backend\'s whole process tree; *front µs/req*: the web server\'s.',
  );
  L.push('');
  for (const s of f.skipped ?? []) L.push(`Skipped: ${s.what}: ${s.reason}.`, '');
  const frontLabel = (id) => f.fronts.find((x) => x.id === id)?.label ?? id;
  const rows = Object.values(f.summary).map((s) => [
    frontLabel(s.front),
    label(s.backend),
    range(s.rps),
    med(s.p50Ms, 2),
    med(s.p99Ms, 2),
    range(s.backendUsPerReq),
    med(s.frontUsPerReq),
    s.kept === undefined ? '–' : s.kept ? 'yes' : `NO${s.connectionHeader ? ` (Connection: ${s.connectionHeader})` : ''}`,
    med(s.clientConnectionsPer1k, 1),
    fmt(s.failed),
    fmt(s.errorLines),
    med(s.othersPct, 1),
  ]);
  L.push(table(['front', 'backend', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'front µs/req', 'kept', 'client conns/1k req', 'failed', 'error-log lines', 'others %'], rows, ['l', 'l']));
  L.push('');
  const samples = Object.values(f.summary).filter((s) => s.errorSample);
  for (const s of samples) L.push(`- ${frontLabel(s.front)}, ${label(s.backend)}: \`${s.errorSample}\``);
  if (samples.length) L.push('');
  if (f.ratios.length) {
    L.push(table(['front', '3/4 req/s (per round)', '3/4 CPU/req (per round)'], f.ratios.map((r) => [frontLabel(r.front), range(r.rps, 3), range(r.cpuPerReq, 2)]), ['l']));
    L.push('');
  }
}

function renderPolicy(L, p) {
  L.push('## Scheduling policy and manager overhead', '');
  L.push(
    'A naive pool has each worker call `server.listen(path)`, and node:cluster shares the socket through the primary: ' +
      "round-robin (node's default on Linux: the primary accepts every connection and passes it to a worker over IPC) or " +
      '`SCHED_NONE` (every worker accepts on the shared fd). ProcManager\'s manager owns the socket and each worker accepts on ' +
      `its own copy. Plain mode, ${p.repeats} repeats of ${p.seconds} s runs, pools interleaved; ratios against ${label(p.baseline)} are taken per repeat. ` +
      'CPU is split between the top process (primary or manager) and the workers.',
  );
  L.push('');
  const rows = Object.entries(p.summary).map(([id, s]) => [
    label(id),
    range(s.usPerReq),
    med(s.topUsPerReq, 1),
    med(s.workersUsPerReq),
    range(s.rps),
    id === p.baseline ? '1' : range(s.cpuVsBaseline, 2),
    id === p.baseline ? '1' : range(s.rpsVsBaseline, 2),
  ]);
  L.push(table(['pool', 'CPU µs/req', 'of which primary/manager', 'of which workers', 'req/s', 'CPU/req vs 2n', 'req/s vs 2n'], rows, ['l']));
  L.push('');
}

function renderReload(L, r) {
  L.push('## Reload under load', '');
  L.push(
    `One reload signal a third into each ${''}wrk run (plain mode). *Failed* = non-2xx + socket errors + nginx error-log lines ` +
      '("FastCGI sent in stderr" lines are the backend\'s own log output, counted apart). Latency from nginx\'s access log ' +
      `(ms resolution) for the requests in flight during the ${r.windowSeconds} s after the signal, against those before it.`,
  );
  L.push('');
  const rows = Object.entries(r.summary).map(([id, s]) => [
    label(id),
    s.signal.replace('SIG', ''),
    `${fmt(s.failedTotal)} of ${fmt(s.requestsTotal)}`,
    `${fmt(s.non2xxTotal)} / ${fmt(s.socketErrorsTotal)} / ${fmt(s.nginxErrorLinesTotal)}`,
    s.replacedAll ? 'yes' : 'NO',
    range(s.windowP99Ms),
    range(s.windowMaxMs),
    med(s.steadyP99Ms),
    s.reloadSeconds ? range(s.reloadSeconds, 2) : '–',
    fmt(s.nginxStderrLinesTotal),
  ]);
  L.push(table(['backend', 'signal', 'failed (all rounds)', 'non-2xx / socket / nginx', 'all workers replaced', 'reload p99 ms', 'reload max ms', 'steady p99 ms', 'reload took s (as logged)', 'stderr lines'], rows, ['l', 'l']));
  L.push('');
  for (const [id, s] of Object.entries(r.summary)) if (s.errorSamples?.length) L.push(`- ${label(id)}: \`${s.errorSamples[0].slice(0, 200)}\``);
  L.push('');
}

function renderReloadStorm(L, r) {
  L.push('## Reload storm', '');
  L.push(
    `${r.hups} HUPs spread evenly over ${fmt(r.stormSeconds, 1)} s, starting ${fmt(r.leadSeconds, 1)} s into a ${fmt(r.runSeconds, 1)} s \`wrk -c${r.connections}\` run ` +
      `(plain mode, ${r.workers} workers), and a calm run without HUPs right before it; per round the two backends take turns. ` +
      'From nginx\'s access log (ms resolution): *req/s* = requests that ended in the storm window (first HUP + ' +
      `${fmt(r.stormSeconds, 1)} s; the same window of the calm run), *ratio* = storm / calm of the same backend and round; ` +
      '*p99* / *max* = latency of the requests in flight during the window. *Boots* = workers forked during a storm run (`server (pid N) started` lines). *Failed* = non-2xx + socket errors + nginx error-log lines at level error or worse.',
  );
  L.push('');
  const stormLabel = (id) => (id === 'pm-boots' ? `${label('pm')}, its HUPs sent to a second, idle pool (the boots alone)` : label(id));
  const rows = Object.entries(r.summary).map(([id, s]) => [
    stormLabel(id),
    range(s.calmRps),
    range(s.stormRps),
    range(s.ratio, 2),
    `${range(s.stormP99Ms)} (${med(s.calmP99Ms)})`,
    `${range(s.stormMaxMs)} (${med(s.calmMaxMs)})`,
    range(s.stormBoots),
    `${fmt(s.stormFailed)} of ${fmt(s.stormRequests)}`,
    med(s.othersPct, 1),
  ]);
  L.push(table(['backend', 'calm req/s', 'storm req/s', 'storm / calm (per round)', 'storm p99 ms (calm)', 'storm max ms (calm)', 'boots per storm', 'failed in storm runs', 'others %'], rows, ['l']));
  L.push('');
  for (const [id, s] of Object.entries(r.summary)) if (s.errorSamples?.length) L.push(`- ${label(id)}: \`${s.errorSamples[0].slice(0, 200)}\``);
  const m = r.maxRequests;
  if (m?.supported) {
    const past = m.pastLimit
      ? `${fmt(m.recycledWorkers)} workers recycled during the runs; requests each served past the limit: median ${fmt(m.pastLimit.median)} (${fmt(m.pastLimit.min)}–${fmt(m.pastLimit.max)})`
      : m.pastLimitNote ?? `${fmt(m.workersReplacedInRuns)} workers replaced`;
    L.push(
      `\`max_requests=${m.limit}\` (${label('pm')}, calm runs, same rounds): ${range(m.rps)} req/s, ${range(m.ratio, 2)}× of the same pool without it; ` +
        `p99 ${med(m.p99Ms)} ms, max ${med(m.maxMs)} ms; failed ${fmt(m.failed)} of ${fmt(m.requests)} (non-2xx / socket / nginx ${fmt(m.non2xx)} / ${fmt(m.socketErrors)} / ${fmt(m.nginxErrorLines)}); ${past}.`,
    );
    if (m.errorSamples?.length) L.push('', `- with max_requests: \`${m.errorSamples[0].slice(0, 200)}\``);
  } else if (m) {
    L.push(`\`max_requests\`: ${m.reason}.`);
  }
  if (r.distRebuiltDuringPhase) L.push('', '**dist/ was rebuilt during this phase**: workers forked after that ran the new build.');
  if (r.svg) L.push('', `Timeline of round ${r.timelineRound}: \`${r.svg}\`${r.svgDocs ? ` (copied to \`${r.svgDocs}\`)` : ''}.`);
  L.push('');
}

function renderTerm(L, t) {
  L.push('## Shutdown (TERM)', '');
  L.push('Time from the signal to the manager\'s exit; *in-flight*: a `?sleep=1` request sent 300 ms before the signal. PHP-FPM stops at once on TERM; QUIT is its graceful stop.');
  L.push('');
  const rows = Object.values(t.summary).map((s) => [
    label(s.backend),
    `${s.variant}${s.variant.includes('QUIT') ? '' : ` (${s.signal.replace('SIG', '')})`}`,
    range(s.exitMs, 1),
    s.requestsCompleted === undefined ? '–' : `${s.requestsCompleted}/${s.runs}`,
    fmt(s.leftBehind),
  ]);
  L.push(table(['backend', 'case', 'signal → exit ms', 'in-flight request answered', 'processes left behind'], rows, ['l', 'l']));
  L.push('');
}

function renderRecovery(L, r) {
  L.push('## Recovery from a killed worker', '');
  L.push('`kill -9` of the only worker of a 1-worker pool; time until a new worker answers a request (sent right after the kill; it waits in the backlog).');
  L.push('');
  L.push(
    table(
      ['backend', 'kill -9 → replacement forked, ms', 'kill -9 → replacement answers, ms', 'failed probes'],
      Object.entries(r.summary).map(([id, s]) => [label(id), range(s.forkedMs, 1), range(s.recoveredMs, 1), fmt(s.failedProbes)]),
      ['l'],
    ),
  );
  L.push('');
}

function renderCrashLoop(L, c) {
  L.push('## Crash loop (every worker exits at start)', '');
  L.push(`Each run lasts ${fmt(c.runs[0]?.seconds, 1)} s. CPU in % of one core.`);
  L.push('');
  L.push(
    table(
      ['backend', 'forks', 'forks/s', 'manager CPU %', 'crashing workers CPU %'],
      c.runs.map((r) => [label(r.backend), fmt(r.forks), fmt(r.forksPerSecond, 1), fmt(r.managerCpuPct, 1), fmt(r.workersCpuPct, 1)]),
      ['l'],
    ),
  );
  L.push('');
}

function renderScale(L, s) {
  L.push(`## Scale: ${s.workers} workers`, '');
  L.push(
    'Idle CPU from /proc/<pid>/schedstat (ns). *All accepting*: ProcManager logs when every worker listens; the peers cannot tell, so only their fork time and first answer are shown. ' +
      'PSS splits shared pages among the processes sharing them (Perl and PHP-FPM workers are forks of their manager and share most pages; node:cluster workers are new processes).',
  );
  L.push('');
  const rows = [];
  for (const [id, r] of Object.entries(s.results)) {
    if (id === 'bare') continue;
    rows.push([label(id), fmt(r.workers), fmt(r.forkedMs), fmt(r.readyLineMs), fmt(r.answeredMs), fmt(r.managerRssMiB, 1), fmt(r.managerIdleCpuPct, 3), fmt(r.poolIdleCpuPct, 3), fmt(r.workerRssMiB, 1), fmt(r.workerPssMiB, 1)]);
  }
  if (s.results.bare) rows.push([label('bare') + ', idle', '1', '–', '–', '–', '–', '–', '–', fmt(s.results.bare.workerRssMiB, 1), fmt(s.results.bare.workerPssMiB, 1)]);
  L.push(table(['backend', 'workers', 'all forked ms', 'all accepting ms', 'first answer ms', 'manager RSS MiB', 'manager idle CPU %', 'pool idle CPU %', 'worker RSS MiB', 'worker PSS MiB'], rows, ['l']));
  L.push('');
}

function renderBaseline(L, b) {
  L.push('## This build against an earlier one', '');
  if (b.skipped) {
    L.push(`Skipped: ${b.skipped}.`, '');
    return;
  }
  L.push(
    `${label('pm')}: this build against \`${b.ref}\` (${b.commit}), the same bench app on each library, back to back in each round. ` +
      '*Ratio*: req/s of this build / req/s of the earlier one, per round. CPU µs/req: the pool\'s whole process tree.',
  );
  L.push('');
  const rows = Object.entries(b.summary).map(([mode, s]) => [mode, range(s.aRps), range(s.bRps), range(s.ratio, 2), med(s.aUsPerReq), med(s.bUsPerReq), fmt(s.failed)]);
  L.push(table(['mode', `req/s ${b.ref}`, 'req/s this build', 'ratio', `CPU µs/req ${b.ref}`, 'CPU µs/req this build', 'failed'], rows, ['l']));
  L.push('');
}

function renderStatusPhase(L, st) {
  L.push('## The status page and pm = ondemand', '');
  if (st.skipped) {
    L.push(`Skipped: ${st.skipped}.`, '');
    return;
  }
  L.push(`${label('pm')} with \`status_path\` and \`ping_path\` configured against the same pool without them, back to back in each round (the load asks for other paths). *Ratio*: req/s with / without, per round.`, '');
  const rows = Object.entries(st.summary).map(([mode, s]) => [mode, range(s.aRps), range(s.bRps), range(s.ratio, 2), med(s.aUsPerReq), med(s.bUsPerReq), fmt(s.failed)]);
  L.push(table(['mode', 'req/s without', 'req/s with', 'ratio', 'CPU µs/req without', 'CPU µs/req with', 'failed'], rows, ['l']));
  L.push('');
  const o = st.ondemand;
  L.push(o?.skipped ? `pm = ondemand: skipped (${o.skipped}).` : `pm = ondemand, the first request from no worker (fork, boot, accept, answer, through nginx): ${range(o.firstMs)} ms over ${o.tries} tries.`, '');
}

function renderSpread(L, sp) {
  L.push('## Spread over the workers', '');
  if (sp.skipped) {
    L.push(`Skipped: ${sp.skipped}.`, '');
    return;
  }
  L.push(
    `${sp.workers} workers per pool${sp.sleep ? `, each request waiting ${sp.sleep * 1000} ms without the CPU` : ''}. ` +
      "*Spread*: the busiest worker's requests over the least busy one's in a run (from nginx's access log of each answer's X-Pid). " +
      "*Idle-worker runs*: runs in which a worker served nothing (left out of the spread). CPU µs/req: the pool's whole process tree.",
    '',
  );
  const rows = Object.values(sp.summary).map((s) => [
    label(s.variant),
    s.transport,
    s.mode,
    range(s.spread, 2),
    range(s.rps),
    med(s.p99Ms, 1),
    range(s.usPerReq, 1),
    fmt(s.idleWorkerRuns),
    fmt(s.failed),
  ]);
  rows.sort((a, b) => (a[1] + a[2]).localeCompare(b[1] + b[2]));
  L.push(table(['pool', 'socket', 'connections', 'spread', 'req/s', 'p99 ms', 'CPU µs/req', 'idle-worker runs', 'failed'], rows, ['l', 'l', 'l']));
  L.push('');
}

function renderMemory(L, m) {
  L.push('## Worker memory and the young generation', '');
  if (m.skipped) {
    L.push(`Skipped: ${m.skipped}.`, '');
    return;
  }
  L.push(
    `${label('pm')} pools that differ only in their workers' \`--max-semi-space-size\` (MiB; *v8*: V8's own default on ${m.node}), ` +
      'through nginx with kept connections, in turn in each round. *Ratio*: req/s over *v8*\'s in the same round; *CPU ratio*: the pool\'s CPU per request over *v8*\'s (less noisy on a shared machine). RSS: mean per worker after each run.',
    '',
  );
  const rows = m.sizes.map((size) => {
    const s = m.summary[size];
    return [String(size), range(s.rps), range(s.ratio, 2), range(s.usPerReq, 1), range(s.cpuRatio, 2), med(s.p99Ms, 1), range(s.rssMiB, 1), fmt(s.failed)];
  });
  L.push(table(['semi-space MiB', 'req/s', 'ratio', 'CPU µs/req', 'CPU ratio', 'p99 ms', 'worker RSS MiB', 'failed'], rows, ['l']));
  L.push('');
}

function renderBoot(L, b) {
  L.push('## Boot: fork to answering, and an idle worker\'s memory', '');
  if (b.skipped) {
    L.push(`Skipped: ${b.skipped}.`, '');
    return;
  }
  L.push(
    'One worker per backend behind nginx; each round kills it with kill -9 and times until a new pid answers (the manager\'s reaction, the fork and the new worker\'s boot), the backends in turn. ' +
      `*ref-${b.ref}*: this project at ${b.commit ?? b.ref}, before the boot-time cuts. *Fork → accepting*: as this build's manager measured it (the status page's \`boot duration\`). Memory: the worker after its last boot, idle.`,
    '',
  );
  const q = (x) => (x ? `${fmt(x.p50)} / ${fmt(x.p95)}` : '–');
  const rows = b.variants.map((key) => {
    const s = b.summary[key];
    return [key, q(s.answeringMs), q(s.acceptingMs), fmt(s.answeringMs?.n), fmt(s.memory?.rssMiB, 1), fmt(s.memory?.pssMiB, 1), fmt(s.failedProbes)];
  });
  L.push(table(['backend', 'fork → answering, ms (median / p95)', 'fork → accepting, ms (median / p95)', 'boots', 'worker RSS MiB', 'worker PSS MiB', 'failed probes'], rows, ['l']));
  L.push('');
}

function renderTimeouts(L, t) {
  L.push('## The watchdog and the slow log: what they cost', '');
  if (t.skipped) {
    L.push(`Skipped: ${t.skipped}.`, '');
    return;
  }
  L.push(`${label('pm')} with each feature on against the same pool without it, back to back in each round. *Ratio*: req/s with / without, per round. RSS: mean per worker after each run.`, '');
  const rows = [];
  for (const c of t.comparisons) {
    for (const [mode, s] of Object.entries(c.summary)) {
      rows.push([c.name, mode, range(s.aRps), range(s.bRps), range(s.ratio, 2), med(s.aUsPerReq), med(s.bUsPerReq), med(s.aRssMiB, 1), med(s.bRssMiB, 1), fmt(s.failed)]);
    }
  }
  L.push(table(['feature', 'mode', 'req/s off', 'req/s on', 'ratio', 'CPU µs/req off', 'CPU µs/req on', 'worker RSS MiB off', 'worker RSS MiB on', 'failed'], rows, ['l', 'l']));
  L.push('');
}

function renderLogging(L, g) {
  L.push('## Logging: what access_log costs', '');
  if (g.skipped) {
    L.push(`Skipped: ${g.skipped}.`, '');
    return;
  }
  L.push(
    `${label('pm')} with \`access_log\` (the default \`access_format\`) against the same pool without it; the two run back to back in each round. ` +
      '*Ratio*: req/s with / req/s without, per round. *Lines per request*: access-log lines written over requests answered (1.00 = none lost).',
  );
  L.push('');
  const rows = Object.entries(g.summary).map(([mode, s]) => [mode, range(s.aRps), range(s.bRps), range(s.ratio, 2), med(s.aUsPerReq), med(s.bUsPerReq), med(s.linesPerRequest, 3), fmt(s.failed)]);
  L.push(table(['mode', 'req/s without', 'req/s with access_log', 'ratio', 'CPU µs/req without', 'CPU µs/req with', 'lines per request', 'failed'], rows, ['l']));
  L.push('');
}

function renderProfile(L, p, throughput) {
  L.push('## Where the time goes', '');
  if (throughput) {
    const cpu = (id, mode) => throughput.summary[`${id}/${mode}`]?.backendUsPerReq?.median;
    const parts = ['pm', 'perl', 'php']
      .filter((id) => cpu(id, 'plain') !== undefined)
      .map((id) => `${label(id)} ${fmt(cpu(id, 'plain'))} (plain) / ${fmt(cpu(id, 'keep'))} (keep)`);
    L.push(`CPU µs per request, whole process tree, from the throughput phase: ${parts.join('; ')}.`, '');
  }
  for (const prof of Object.values(p.cpuProfiles ?? {})) {
    if (prof.skipped) {
      L.push(`${label(prof.backend)} (${prof.mode}): CPU profile skipped (${prof.skipped}).`, '');
      continue;
    }
    L.push(`**${label(prof.backend)}**, \`node --cpu-prof\` of ${prof.workers} workers under ${prof.mode}-mode load (${fmt(prof.requests)} requests), share of busy samples:`, '');
    L.push(table(['area', '%'], prof.areas.slice(0, 8).map((a) => [a.area, fmt(a.pct, 1)]), ['l']));
    L.push('');
    L.push(`Top functions (self time): ${prof.functions.slice(0, 8).map((f) => `\`${f.name}\` ${fmt(f.pct, 1)}%`).join(', ')}.`, '');
  }
  if (p.syscalls?.skipped) L.push(`System calls: skipped (${p.syscalls.skipped}).`, '');
  else if (p.syscalls) {
    L.push('System calls per request in the workers (`strace -c -f`, plain mode):', '');
    L.push(table(['backend', 'syscalls/request', 'most frequent'], Object.entries(p.syscalls).map(([id, s]) => [label(id), fmt(s.perRequest, 1), s.top.map((t) => `${t.name} ${fmt(t.perRequest, 1)}`).join(', ')]), ['l', 'r', 'l']));
    L.push('');
  }
}

/** The brief's targets, each with the figure it is judged on. */
function renderTargets(L, phases) {
  const rows = [];
  const ratio = (num, den, mode = 'plain') => phases.throughput?.ratios.find((r) => r.num === num && r.den === den && r.mode === mode)?.rps;
  for (const [num, den, name] of [['pm-asis', 'cluster-rr', '3a/2'], ['pm-asis', 'cluster-none', '3a/2n'], ['pm', 'cluster-rr', '3/2'], ['pm', 'cluster-none', '3/2n']]) {
    for (const mode of ['plain', 'keep']) {
      const r = ratio(num, den, mode);
      if (r) rows.push([`${name} req/s ≥ 0.97 (${mode})`, range(r, 3), r.median >= 0.97 ? 'met' : 'not met']);
    }
  }
  const policy = phases.policy;
  if (policy) {
    for (const id of ['pm-asis', 'pm']) {
      const s = policy.summary[id]?.rpsVsBaseline;
      if (s) rows.push([`${BACKENDS[id].tag}/2n req/s ≥ 0.97 (${policy.repeats} short plain runs)`, range(s, 3), s.median >= 0.97 ? 'met' : 'not met']);
    }
    const rr = policy.summary['cluster-rr']?.rps?.median;
    const pm = policy.summary.pm?.rps?.median;
    if (rr && pm) rows.push(['3/2 req/s ≥ 0.97 (same runs, medians)', fmt(pm / rr, 3), pm / rr >= 0.97 ? 'met' : 'not met']);
  }
  const reload = phases.reload?.summary?.pm;
  if (reload) rows.push(['zero failed requests on HUP under load', `${reload.failedTotal} of ${fmt(reload.requestsTotal)}`, reload.failedTotal === 0 ? 'met' : 'not met']);
  const storm = phases['reload-storm']?.summary?.pm?.ratio;
  if (storm) rows.push([`req/s during ${phases['reload-storm'].hups} HUPs in ${phases['reload-storm'].stormSeconds} s ≥ 0.9× of calm`, `${range(storm, 2)}×`, storm.median >= 0.9 ? 'met' : 'not met']);
  const idle = phases.term?.summary?.['pm/idle'];
  if (idle) rows.push(['TERM, idle workers: manager gone within 100 ms', `${range(idle.exitMs, 1)} ms`, idle.exitMs.max <= 100 ? 'met' : 'not met']);
  const crash = phases.crashloop?.runs?.find((r) => r.backend === 'pm');
  if (crash) {
    rows.push(['crash loop: a handful of forks/s at most', fmt(crash.forksPerSecond, 1), crash.forksPerSecond <= 5 ? 'met' : 'not met']);
    rows.push(['crash loop: manager CPU < 5%', `${fmt(crash.managerCpuPct, 1)}%`, crash.managerCpuPct < 5 ? 'met' : 'not met']);
  }
  if (!rows.length) return;
  L.push('## Targets', '');
  L.push(table(['target', 'measured', ''], rows, ['l', 'r', 'l']));
  L.push('');
}

module.exports = { renderReport };
