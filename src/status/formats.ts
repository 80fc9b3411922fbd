// The status page's formats, PHP-FPM's (text, ?json, ?xml, ?openmetrics; &full adds the workers),
// written from a PoolSnapshot. Pure. Keys are PHP-FPM 8.2's; ours follow them, marked in the README.
// OpenMetrics follows the specification rather than PHP-FPM's output (whose counters lack the
// `_total` suffix, so strict parsers refuse it).

import type { PoolSnapshot, ProcessSnapshot } from './snapshot';
import { compileStrftime, DEFAULT_TIME_FORMAT } from '../log/strftime';

export type StatusFormat = 'text' | 'json' | 'xml' | 'openmetrics' | 'html';

export interface StatusQuery {
  format: StatusFormat;
  full: boolean;
}

/** `json&full`, `?xml`, `full`, ...: the format is the first of them given, else text. */
export function parseStatusQuery(query: string): StatusQuery {
  const words = new Set(query.replace(/^\?/, '').split('&').map((w) => w.split('=')[0]!));
  const format = (['json', 'xml', 'openmetrics', 'html'] as const).find((f) => words.has(f)) ?? 'text';
  return { format, full: words.has('full') };
}

export const CONTENT_TYPES: Record<StatusFormat, string> = {
  text: 'text/plain',
  json: 'application/json',
  xml: 'text/xml',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
  html: 'text/html; charset=utf-8',
};

const formatTime = compileStrftime(DEFAULT_TIME_FORMAT);
const phpTime = (seconds: number) => formatTime(new Date(seconds * 1000));

/** A value not known yet: JSON's null, written `-` in text and XML. */
type FieldValue = string | number | null;

/** PHP-FPM's pool keys, in its order, then ours; the value as text writes it. */
function poolFields(s: PoolSnapshot): [string, FieldValue][] {
  return [
    ['pool', s.pool],
    ['process manager', s.processManager],
    ['start time', s.startTime],
    ['start since', s.startSince],
    ['accepted conn', s.acceptedConn],
    ['listen queue', s.listenQueue ?? 0],
    ['max listen queue', s.maxListenQueue],
    ['listen queue len', s.listenQueueLen],
    ['idle processes', s.idleProcesses],
    ['active processes', s.activeProcesses],
    ['total processes', s.totalProcesses],
    ['max active processes', s.maxActiveProcesses],
    ['max children reached', s.maxChildrenReached],
    ['slow requests', s.slowRequests],
    ['max children', s.maxChildren],
    ['requests in flight', s.requestsInFlight],
    ['generation', s.generation],
    ['reloads', s.reloads],
    ['recycles', s.recycles],
    ['handed over connections', s.handedOverConnections],
    ['watchdog kills', s.watchdogKills],
    ['quick exits', s.quickExits],
    ['respawn delay', s.respawnDelayMs],
    ['request spread', s.requestSpread],
  ];
}

function processFields(p: ProcessSnapshot): [string, string | number][] {
  return [
    ['pid', p.pid],
    ['state', p.state],
    ['start time', p.startTime],
    ['start since', p.startSince],
    ['requests', p.requests],
    ['request duration', p.requestDuration],
    ['request method', p.requestMethod],
    ['request uri', p.requestUri],
    ['content length', p.contentLength],
    ['user', p.user],
    ['script', p.script],
    ['last request cpu', p.lastRequestCpu],
    ['last request memory', p.lastRequestMemory],
    ['slot', p.slot],
    ['generation', p.generation],
    ['requests in flight', p.requestsInFlight],
    ['rss', p.rssBytes],
    ['slow requests', p.slowRequests],
    ['boot duration', p.bootMs],
  ];
}

export function renderStatus(s: PoolSnapshot, { format, full }: StatusQuery): string {
  switch (format) {
    case 'json':
      return renderJson(s, full);
    case 'xml':
      return renderXml(s, full);
    case 'openmetrics':
      return renderOpenMetrics(s);
    case 'html':
      return renderHtml(s);
    default:
      return renderText(s, full);
  }
}

function renderText(s: PoolSnapshot, full: boolean): string {
  const line = ([key, value]: [string, FieldValue], timeKeys: boolean) =>
    `${`${key}:`.padEnd(21)} ${timeKeys && key === 'start time' ? phpTime(Number(value)) : (value ?? '-')}\n`;
  let out = poolFields(s).map((f) => line(f, true)).join('');
  if (full) {
    for (const p of s.processes) out += `\n************************\n${processFields(p).map((f) => line(f, true)).join('')}`;
  }
  return out;
}

const jsonKeyed = (fields: [string, FieldValue][]) => Object.fromEntries(fields);

function renderJson(s: PoolSnapshot, full: boolean): string {
  const body: Record<string, unknown> = jsonKeyed(poolFields(s));
  if (full) body.processes = s.processes.map((p) => jsonKeyed(processFields(p)));
  return JSON.stringify(body);
}

const xmlEscape = (v: FieldValue) => String(v ?? '-').replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
const xmlTag = (key: string) => key.replace(/ /g, '-');

function renderXml(s: PoolSnapshot, full: boolean): string {
  const fields = (f: [string, FieldValue][]) => f.map(([k, v]) => `<${xmlTag(k)}>${xmlEscape(v)}</${xmlTag(k)}>`).join('\n');
  let out = `<?xml version="1.0" ?>\n<status>\n${fields(poolFields(s))}\n`;
  if (full) out += `<processes>\n${s.processes.map((p) => `<process>\n${fields(processFields(p))}\n</process>`).join('\n')}\n</processes>\n`;
  return `${out}</status>\n`;
}

interface Metric {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  unit?: string;
  /** null: not known yet, and the metric is left out. */
  value: number | null;
}

function renderOpenMetrics(s: PoolSnapshot): string {
  const metrics: Metric[] = [
    { name: 'up', type: 'gauge', help: 'Whether the pool answers (1).', value: 1 },
    { name: 'start_time_seconds', type: 'gauge', unit: 'seconds', help: 'When the pool started, in seconds since the epoch.', value: s.startTime },
    { name: 'accepted_connections', type: 'counter', help: 'Requests accepted since the pool started.', value: s.acceptedConn },
    { name: 'listen_queue', type: 'gauge', help: 'Connections waiting in the backlog of the listening socket.', value: s.listenQueue ?? 0 },
    { name: 'max_listen_queue', type: 'gauge', help: 'The most connections seen waiting in the backlog since the pool started.', value: s.maxListenQueue },
    { name: 'listen_queue_length', type: 'gauge', help: 'The size of the backlog of the listening socket.', value: s.listenQueueLen },
    { name: 'idle_processes', type: 'gauge', help: 'Workers with no request in flight.', value: s.idleProcesses },
    { name: 'active_processes', type: 'gauge', help: 'Workers with a request in flight.', value: s.activeProcesses },
    { name: 'total_processes', type: 'gauge', help: 'Workers alive.', value: s.totalProcesses },
    { name: 'max_active_processes', type: 'gauge', help: 'The most workers seen active at once since the pool started.', value: s.maxActiveProcesses },
    { name: 'max_children_reached', type: 'counter', help: 'Times the pool wanted more workers than its maximum.', value: s.maxChildrenReached },
    { name: 'slow_requests', type: 'counter', help: 'Requests that got a slow-log entry.', value: s.slowRequests },
    { name: 'max_children', type: 'gauge', help: 'The configured maximum of workers.', value: s.maxChildren },
    { name: 'requests_in_flight', type: 'gauge', help: 'Requests being served now.', value: s.requestsInFlight },
    { name: 'generation', type: 'gauge', help: 'The code generation the pool serves (one more per reload).', value: s.generation },
    { name: 'reloads', type: 'counter', help: 'Reloads begun (HUP).', value: s.reloads },
    { name: 'recycles', type: 'counter', help: 'Workers recycled (max_requests, max_memory).', value: s.recycles },
    { name: 'handed_over_connections', type: 'counter', help: 'Kept connections passed from retiring workers to serving ones.', value: s.handedOverConnections },
    { name: 'watchdog_kills', type: 'counter', help: 'Workers killed by worker_timeout.', value: s.watchdogKills },
    { name: 'request_spread', type: 'gauge', help: "The busiest worker's requests per second over the least busy one's (1: even).", value: s.requestSpread },
  ];
  const label = `{pool="${s.pool.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"}`;
  let out = '';
  for (const m of metrics) {
    if (m.value === null) continue;
    const name = `fcgi_pm_${m.name}`;
    out += `# TYPE ${name} ${m.type}\n`;
    if (m.unit) out += `# UNIT ${name} ${m.unit}\n`;
    out += `# HELP ${name} ${m.help}\n`;
    out += `${name}${m.type === 'counter' ? '_total' : ''}${label} ${m.value}\n`;
  }
  return `${out}# EOF\n`;
}

/** PHP-FPM's status.html: a self-contained page that reloads its figures (?json&full) every 2 s. */
function renderHtml(s: PoolSnapshot): string {
  const initial = JSON.stringify(JSON.parse(renderJson(s, true))).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${xmlEscape(s.pool)}: pool status</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin-bottom:1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
#pool td:first-child{font-weight:600}
</style></head>
<body><h1>Pool <span id="name"></span></h1>
<table id="pool"></table>
<h2>Workers</h2>
<table id="workers"><thead></thead><tbody></tbody></table>
<p id="updated"></p>
<script>
const keys = ['pid','state','start since','requests','requests in flight','request duration','request method','request uri','slot','generation','rss','slow requests','boot duration'];
// The figures as a person reads them: times as dates, sizes in MiB, durations with their unit.
const mib = (v) => (v / 1048576).toFixed(1) + ' MiB';
const shown = {
  'start time': (v) => new Date(v * 1000).toISOString().replace('T', ' ').replace('.000Z', ' UTC'),
  'start since': (v) => v + ' s',
  'request duration': (v) => (v / 1000).toFixed(1) + ' ms',
  'boot duration': (v) => v + ' ms',
  'rss': mib,
  'last request memory': mib,
};
const display = (k, v) => (shown[k] && typeof v === 'number' ? shown[k](v) : String(v));
function show(s) {
  document.getElementById('name').textContent = s.pool;
  const pool = document.getElementById('pool');
  pool.replaceChildren(...Object.keys(s).filter((k) => k !== 'processes').map((k) => {
    const tr = document.createElement('tr');
    for (const v of [k, display(k, s[k])]) { const td = document.createElement('td'); td.textContent = v; tr.append(td); }
    return tr;
  }));
  const head = document.querySelector('#workers thead');
  const hr = document.createElement('tr');
  for (const k of keys) { const th = document.createElement('th'); th.textContent = k; hr.append(th); }
  head.replaceChildren(hr);
  document.querySelector('#workers tbody').replaceChildren(...s.processes.map((p) => {
    const tr = document.createElement('tr');
    tr.className = 'worker';
    for (const k of keys) { const td = document.createElement('td'); td.textContent = display(k, p[k]); tr.append(td); }
    return tr;
  }));
  document.getElementById('updated').textContent = 'updated ' + new Date().toISOString();
}
show(${initial});
setInterval(() => {
  fetch(location.pathname + '?json&full', { cache: 'no-store' }).then((r) => r.json()).then(show).catch(() => {});
}, 2000);
</script></body></html>
`;
}

/** The headers PHP-FPM sends with its status and ping pages. */
export const NO_CACHE_HEADERS: Record<string, string> = {
  Expires: 'Thu, 01 Jan 1970 00:00:00 GMT',
  'Cache-Control': 'no-cache, no-store, must-revalidate, max-age=0',
};
