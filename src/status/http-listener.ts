// status_listen: the manager itself answers the status and ping pages over plain HTTP, on a loopback
// address or a unix socket of its own (PHP-FPM's pm.status_listen). It needs no worker, so it
// answers while every worker is busy or blocked, and it is what a Prometheus scrape or a Kubernetes
// HTTP probe reaches without a web server in front.

import * as fs from 'node:fs';
import * as http from 'node:http';
import { listenStandalone } from '../socket/listen';
import type { ListenAddress } from '../socket/address';
import { CONTENT_TYPES, NO_CACHE_HEADERS, parseStatusQuery, renderStatus } from './formats';
import type { PoolSnapshot } from './snapshot';

export interface StatusPaths {
  statusPath: string;
  pingPath: string;
  pingResponse: string;
}

export interface StatusListenerOptions {
  /** Asked for each request: a reload may change them. */
  paths(): StatusPaths;
  snapshot(): Promise<PoolSnapshot>;
}

/** Opens the listener; resolves with where it listens. Rejects with `status_listen <address>: <why>`. */
export async function startStatusListener(address: ListenAddress, options: StatusListenerOptions): Promise<string> {
  const server = http.createServer((req, res) => answer(req, res, options));
  // The manager's event loop must not stay alive for it: the pool ends the process.
  let where: string;
  try {
    where = await listenStandalone(server, address);
  } catch (err) {
    throw new Error((err as Error).message.replace(/^listen /, 'status_listen '));
  }
  server.unref();
  if (address.kind === 'unix') {
    process.once('exit', () => fs.rmSync(address.path, { force: true }));
  }
  return where;
}

function answer(req: http.IncomingMessage, res: http.ServerResponse, options: StatusListenerOptions): void {
  const o = { ...options.paths(), snapshot: () => options.snapshot() };
  const url = new URL(req.url ?? '/', 'http://status');
  const send = (status: number, type: string, body: string) => {
    res.writeHead(status, { 'Content-Type': type, ...NO_CACHE_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'only GET and HEAD\n');
  if (url.pathname === o.pingPath) return send(200, 'text/plain', o.pingResponse);
  if (url.pathname !== o.statusPath) return send(404, 'text/plain', `not found: the status page is ${o.statusPath}, the ping page ${o.pingPath}\n`);
  const query = parseStatusQuery(url.search);
  o.snapshot().then(
    (snapshot) => send(200, CONTENT_TYPES[query.format], renderStatus(snapshot, query)),
    (err: Error) => send(503, 'text/plain', `status unavailable: ${err.message}\n`),
  );
}
