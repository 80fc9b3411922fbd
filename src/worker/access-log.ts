// access_log: one line per request that has ended, in access_format, appended by each worker to the
// shared file (whole lines, one write per turn of the event loop; O_APPEND keeps them apart).

import { performance } from 'node:perf_hooks';
import { type AccessEntry, type AccessFormatter, compileAccessFormat } from '../log/access-format';
import { LogFile } from '../log/log-file';
import { requestUri } from './request-uri';

/** What the access log reads from node-fastcgi's (or node:http's) request and response. */
interface LoggedRequest {
  method?: string | undefined;
  url?: string | undefined;
  cgiParams?: Record<string, string>;
  socket?: { remoteAddress?: string | undefined } | null;
}

interface LoggedResponse {
  statusCode?: number;
  getHeader?(name: string): unknown;
  /** node:http's header block as sent (what `headersSent` reads). */
  _header?: unknown;
}

/** A response header as it was sent. */
function sentHeader(res: LoggedResponse, name: string): string | undefined {
  const kept = res.getHeader?.(name);
  if (kept !== undefined) return Array.isArray(kept) ? kept.join(', ') : String(kept);
  // writeHead(status, headers) sends its headers without keeping them for getHeader().
  const block = res._header;
  if (typeof block !== 'string') return undefined;
  const escaped = name.replace(/[^A-Za-z0-9-]/g, (c) => `\\${c}`);
  return new RegExp(`^${escaped}:[ \\t]*(.*?)\\r?$`, 'im').exec(block)?.[1];
}

export class AccessLog {
  private readonly file: LogFile;
  private readonly format: AccessFormatter;
  /** process.ppid asks the kernel each time it is read. */
  private readonly ppid = process.ppid;

  constructor(
    path: string,
    format: string,
    private readonly pool: string,
  ) {
    this.format = compileAccessFormat(format);
    this.file = new LogFile(path);
  }

  /** The clock a request's duration is measured on: read it when the request begins. */
  /** Writes the line of a request that began at `began` (performance.now()) and has just ended. */
  record(request: object, response: object, began: number): void {
    const req = request as LoggedRequest;
    const res = response as LoggedResponse;
    const durationMs = performance.now() - began;
    const endedAtMs = Date.now();
    const params = req.cgiParams;
    const entry: AccessEntry = {
      param: (name) => (params ? params[name] : process.env[name]),
      responseHeader: (name) => sentHeader(res, name),
      method: req.method ?? '-',
      uri: requestUri(req) ?? '',
      // FastCGI says who the client is in REMOTE_ADDR; the socket's peer is the web server.
      remoteAddr: params ? params.REMOTE_ADDR : req.socket?.remoteAddress,
      status: res.statusCode ?? 0,
      startedAtMs: endedAtMs - durationMs,
      endedAtMs,
      durationMs,
      pid: process.pid,
      ppid: this.ppid,
      pool: this.pool,
    };
    this.file.write(`${this.format(entry)}\n`);
  }

  reopen(): void {
    this.file.reopen();
  }

  get path(): string {
    return this.file.path;
  }
}
