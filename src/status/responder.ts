// status_path and ping_path, answered in the worker before the application sees the request, so
// any app gets them unchanged. Matched on SCRIPT_NAME, as PHP-FPM does (node:http servers: the
// URL's path). A status request asks the manager for the pool's figures over IPC.

import { CONTENT_TYPES, NO_CACHE_HEADERS, parseStatusQuery, renderStatus } from './formats';
import type { PoolSnapshot } from './snapshot';

export interface BuiltinPaths {
  statusPath: string | undefined;
  pingPath: string | undefined;
  pingResponse: string;
}

interface Request {
  url?: string | undefined;
  cgiParams?: Record<string, string>;
}

interface Response {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}

export type Responder = (req: object, res: object) => void;

/** Asks the manager for the pool's figures; rejects with the reason when there are none. */
export type AskManager = () => Promise<PoolSnapshot>;

function scriptName(req: Request): string {
  if (req.cgiParams) return req.cgiParams.SCRIPT_NAME ?? '';
  const url = req.url ?? '';
  const at = url.indexOf('?');
  return at < 0 ? url : url.slice(0, at);
}

function queryOf(req: Request): string {
  const fromParams = req.cgiParams?.QUERY_STRING;
  if (fromParams !== undefined) return fromParams;
  const url = req.url ?? '';
  const at = url.indexOf('?');
  return at < 0 ? '' : url.slice(at + 1);
}

/** The responder for `req` if it asks for a built-in path, else undefined (the app answers). */
export function builtinResponder(paths: BuiltinPaths, askManager: AskManager): (request: object) => Responder | undefined {
  return (request) => {
    const name = scriptName(request as Request);
    if (name === paths.pingPath) return answerPing(paths.pingResponse);
    if (name === paths.statusPath) return answerStatus(askManager);
    return undefined;
  };
}

function answerPing(text: string): Responder {
  return (_req, res) => {
    (res as Response).writeHead(200, { 'Content-Type': 'text/plain', ...NO_CACHE_HEADERS });
    (res as Response).end(text);
  };
}

function answerStatus(askManager: AskManager): Responder {
  return (req, res) => {
    const query = parseStatusQuery(queryOf(req as Request));
    askManager().then(
      (snapshot) => {
        (res as Response).writeHead(200, { 'Content-Type': CONTENT_TYPES[query.format], ...NO_CACHE_HEADERS });
        (res as Response).end(renderStatus(snapshot, query));
      },
      (err: Error) => {
        (res as Response).writeHead(503, { 'Content-Type': 'text/plain', ...NO_CACHE_HEADERS });
        (res as Response).end(`status unavailable: ${err.message}\n`);
      },
    );
  };
}
