// An error in application code costs one request, not the worker: a request handler that throws, or
// returns a promise that rejects, gets that request answered with a 500 (or, once its response has
// begun, its connection closed, so the web server sees a cut response rather than a complete one),
// and the worker and its other requests carry on.

import { AsyncLocalStorage } from 'node:async_hooks';
import type * as net from 'node:net';
import { OBSERVER_LISTENER } from '../fastcgi';

/** The part of a request (node:http's, or node-fastcgi's) the worker side uses. */
export interface RequestLike {
  socket?: unknown;
  method?: string;
  url?: string;
}

/** The part of a response the worker side uses. */
export interface ResponseLike {
  once(event: 'finish' | 'close', listener: () => void): unknown;
  on(event: 'finish' | 'close', listener: () => void): unknown;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  getHeaderNames(): string[];
  removeHeader(name: string): void;
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}

export interface FailedRequest {
  error: unknown;
  req: RequestLike;
  res: ResponseLike;
}

/** The request whose handlers, and all the work they started (timers, promises), run in this context. */
export interface RequestContext {
  res: ResponseLike;
  /** Reports an error as this request's failure. */
  fail(error: unknown): void;
}

/**
 * Each request's handlers run in a context of their own, which Node carries into the timers and promises
 * they start and restores when it reports an uncaught exception or an unhandled rejection from them. So
 * an exception thrown later by a request's own work (Express 4 does not catch an async handler's
 * rejection) is that request's failure, not the worker's (lifecycle.ts).
 */
export const requestContext = new AsyncLocalStorage<RequestContext>();

/**
 * Calls the listeners of `events` as EventEmitter#emit does (in order, with the server as `this`),
 * but catches what each throws, and what a promise it returns rejects with, and reports it with the
 * request. The server's other events are emitted as before.
 */
export function guardRequestHandlers(
  server: net.Server,
  events: readonly string[],
  report: (failure: FailedRequest) => void,
  /** A request the library answers itself (status_path, ping_path): the app's listeners are skipped. */
  builtin?: (req: RequestLike) => ((req: RequestLike, res: ResponseLike) => void) | undefined,
): void {
  const emit = server.emit as (this: net.Server, event: string | symbol, ...args: unknown[]) => boolean;
  const reported = new WeakSet<object>();
  const fail = (error: unknown, req: RequestLike, res: ResponseLike) => {
    if (reported.has(res)) return; // a second error from the same request changes nothing
    reported.add(res);
    report({ error, req, res });
  };
  server.emit = function guardedEmit(this: net.Server, event: string | symbol, ...args: unknown[]): boolean {
    if (typeof event !== 'string' || !events.includes(event)) return emit.call(this, event, ...args);
    const listeners = this.rawListeners(event);
    if (listeners.length === 0) return false;
    const [req, res] = args as [RequestLike, ResponseLike];
    const answer = builtin?.(req);
    const context: RequestContext = { res, fail: (error) => fail(error, req, res) };
    for (const listener of listeners) {
      // The library's own observers (the tracker's bookkeeping) still see a request it answers.
      if (answer && !(listener as { [OBSERVER_LISTENER]?: boolean })[OBSERVER_LISTENER]) continue;
      try {
        const result: unknown = requestContext.run(context, () => Reflect.apply(listener, this, args));
        if (isThenable(result)) result.then(undefined, (error: unknown) => fail(error, req, res));
      } catch (error) {
        fail(error, req, res);
      }
    }
    if (answer) {
      try {
        answer(req, res);
      } catch (error) {
        fail(error, req, res);
      }
    }
    return true;
  };
}

/** What became of a request whose handler failed, or that timed out. */
export type FailedRequestOutcome = `answered ${number}` | 'response begun, connection closed' | 'response already complete';

const STATUS_TEXT: Record<number, string> = { 500: 'Internal Server Error', 503: 'Service Unavailable' };

/**
 * Answers a failed request with a plain `status` (500) if nothing was sent yet; else cuts its
 * connection, so the web server sees an incomplete answer instead of taking it for a whole one.
 */
export function answerFailedRequest(req: RequestLike, res: ResponseLike, status = 500): FailedRequestOutcome {
  if (res.writableEnded) return 'response already complete';
  if (res.headersSent) {
    connectionOf(req).destroy();
    silence(res);
    return 'response begun, connection closed';
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${STATUS_TEXT[status] ?? 'Error'}\n`);
  silence(res);
  return `answered ${status}`;
}

/**
 * The methods of a response that throw once its headers are sent (ERR_HTTP_HEADERS_SENT), or write.
 * The application still holds the response the worker ended for it, and will call them when its
 * own work is done (a timer, a query): each becomes a no-op, as node:http already makes a write
 * after end, so that the late call costs nothing, where it would have been an uncaught exception.
 */
const LATE_CALLS = ['writeHead', 'setHeader', 'setHeaders', 'appendHeader', 'removeHeader', 'flushHeaders', 'write', 'end', 'writeContinue', 'writeProcessing', 'writeEarlyHints', 'addTrailers'];

function silence(res: ResponseLike): void {
  for (const name of LATE_CALLS) {
    Object.defineProperty(res, name, { value: lateCall, writable: true, configurable: true });
  }
}

/** What a silenced method does: nothing, but what the caller may chain on or wait for. */
function lateCall(this: ResponseLike, ...args: unknown[]): unknown {
  const callback = args[args.length - 1];
  if (typeof callback === 'function') process.nextTick(callback as () => void);
  return this;
}

/** The client connection a request came on: node-fastcgi's request stream keeps it as `_conn`. */
export function connectionOf(req: RequestLike): net.Socket {
  const socket = req.socket as { _conn?: net.Socket } & net.Socket;
  return socket._conn ?? socket;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
