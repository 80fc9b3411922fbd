// The worker side: counts requests in flight, and on TERM/HUP (or when the manager is gone) stops
// accepting and exits once the requests it holds are answered.
//
// Perl's worker serves one request at a time, so it can check for signals after each one
// (pm_post_dispatch). A Node worker serves many at once: it exits when none is left in flight and
// every connection it accepted is closed, so no accepted request is dropped.

import type * as net from 'node:net';
import * as util from 'node:util';
import cluster from 'node:cluster';
import { isManagerMessage, type ManagerMessage, sendToManager, type WorkerMessage } from '../pool/messages';
import type { StatusClient } from '../status/client';
import { canHandOver, handOverToManager } from './connection-handover';
import type { AccessLog } from './access-log';
import type { SlowLog } from './slowlog';
import type { RecyclePolicy } from './recycle';
import { WorkerReporter } from './reporter';
import { RequestDeadlines } from './request-deadlines';
import { answerFailedRequest, type FailedRequest, type RequestLike, requestContext, type ResponseLike } from './request-errors';
import { heartbeatIntervalMs } from '../pool/watchdog';
import { ServerTracker } from './server-tracker';
import { requestUri } from './request-uri';

/** What the worker side needs from its ProcManager. */
export interface WorkerHost {
  preDispatch(): void;
  postDispatch(): void;
  warn(msg: string): void;
  error(msg: string): void;
  exit(msg?: string, status?: number): never;
  /** How long requests in flight may take to finish when the worker must stop on its own (0: no bound). */
  readonly dieTimeoutSeconds: number;
  readonly recyclePolicy: RecyclePolicy;
  /** request_terminate_timeout: a request in flight longer is ended (0: never). */
  readonly requestTerminateTimeoutSeconds: number;
  /** worker_timeout: the heartbeat's period is a quarter of it (0: no heartbeat). */
  readonly workerTimeoutSeconds: number;
}

/** `sent` is the handle a message carries (a kept connection, for fcgi-pm:adopt). */
type ManagerHandlers = { [A in ManagerMessage['act']]: (message: Extract<ManagerMessage, { act: A }>, sent: unknown) => void };

/** How long a drained worker waits for the manager's answer before it exits anyway. */
const DRAIN_ANSWER_TIMEOUT_MS = 1_000;

/** Node's own exit status after an uncaught exception. */
const UNCAUGHT_EXCEPTION_STATUS = 1;
/** How long a worker that failed to start waits for its error to reach the manager. */
const BOOT_ERROR_SEND_MS = 1_000;

export class WorkerLifecycle {
  private inFlight = 0;
  private stopReason: string | undefined;
  private exitStatus = 0;
  private exiting = false;
  private readonly trackers = new Set<ServerTracker>();
  /** access_log's writer, when it is on (set by the ProcManager). */
  accessLog: AccessLog | undefined;
  /** request_slowlog_timeout's recorder, when it is on (set by the ProcManager). */
  slowlog: SlowLog | undefined;
  /** listen_allowed_clients (set by the ProcManager): the addresses allowed to connect over TCP. */
  allowedClients: ReadonlySet<string> | undefined;
  /** status_path's requests to the manager, when it is on (set by the ProcManager). */
  statusClient: StatusClient | undefined;
  /** status_path and ping_path (set by the ProcManager). */
  builtin: ((req: RequestLike) => ((req: RequestLike, res: ResponseLike) => void) | undefined) | undefined;
  /** Its server accepts on the manager's socket (set by the ProcManager): it has started. */
  accepting = false;
  /** The scoreboard reports to the manager; a process with no manager has none. */
  private readonly reporter: WorkerReporter | undefined;

  private readonly deadlines: RequestDeadlines<RequestLike, ResponseLike> | undefined;
  private readonly handlers: ManagerHandlers = {
    // Whatever the parameters: the manager asks before every status answer (status_path or status_listen).
    'fcgi-pm:report-now': () => this.reportNow(),
    'fcgi-pm:status': (message) => this.statusClient?.answered(message),
    'fcgi-pm:hand-over-connections': () => this.handOverConnections(),
    'fcgi-pm:adopt': (_message, sent) => this.adopt(sent as net.Socket | undefined),
    'fcgi-pm:drained': () => this.drainAnswered(),
  };
  /** The manager said other workers serve on: kept connections are handed over, not closed. */
  private handingOver = false;
  /** Drained and stopping: asked the manager whether a connection is on its way (see exitIfDrained). */
  private drainAsked = false;
  private drainAcknowledged = false;
  private drainWait: NodeJS.Timeout | undefined;

  constructor(private readonly host: WorkerHost) {
    if (cluster.isWorker) {
      this.reporter = new WorkerReporter(sendToManager, host.recyclePolicy, () => this.slowlog?.slowRequests ?? 0);
      if (host.workerTimeoutSeconds > 0) this.reporter.startHeartbeat(heartbeatIntervalMs(host.workerTimeoutSeconds));
      // The worker's one listener for the manager: every kind of message has its handler here.
      process.on('message', (message: unknown, sent: unknown) => {
        if (!isManagerMessage(message)) return;
        (this.handlers[message.act] as (m: ManagerMessage, sent: unknown) => void)(message, sent);
      });
    }
    const terminateAfter = host.requestTerminateTimeoutSeconds;
    if (terminateAfter > 0) {
      this.deadlines = new RequestDeadlines(terminateAfter * 1000, (req, res, elapsed) => this.requestTimedOut(req, res, elapsed));
    }
  }

  /** listen_allowed_clients: a TCP connection from any other address is dropped, and logged as PHP-FPM does. */
  admitConnection(socket: net.Socket): boolean {
    const address = socket.remoteAddress;
    if (!this.allowedClients || address === undefined) return true; // a unix socket has no address
    const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
    if (this.allowedClients.has(plain) || this.allowedClients.has(address)) return true;
    this.host.warn(`connection disallowed: IP address '${plain}' has been dropped`);
    return false;
  }

  /** How a kept connection leaves when this worker retires, if not by closing. */
  get handOver(): ((socket: net.Socket) => void) | undefined {
    return this.handingOver ? handOverIfPossible : undefined;
  }

  /** Sent before the TERM (which may still overtake it): the connections kept so far follow too. */
  private handOverConnections(): void {
    this.handingOver = true;
    if (this.stopping) for (const tracker of this.trackers) tracker.handOverConnections();
  }

  /** A kept connection handed over by a retiring worker: the first server that can serves it. */
  private adopt(socket: net.Socket | undefined): void {
    if (!socket) return;
    for (const tracker of this.trackers) if (tracker.adopt(socket)) return;
    socket.destroy();
  }

  /** The manager asked for a report now (a status request wants exact figures). */
  reportNow(): void {
    this.reporter?.flush();
  }

  /** A request has arrived on one of the servers; `res` stands for it until it ends. */
  requestBegan(req: RequestLike, res: ResponseLike): void {
    this.reporter?.requestBegan(res, req);
    this.deadlines?.began(req, res);
    this.slowlog?.began(req, res);
  }

  requestEnded(res: ResponseLike): void {
    this.reporter?.requestEnded(res);
    this.deadlines?.ended(res);
    this.slowlog?.ended(res);
  }

  /**
   * request_terminate_timeout: the request gets a 503 (or, if its response has begun, its connection
   * is cut, so that the web server does not take a part for the whole), the application hears
   * 'aborted' and 'close', and its slot is free, so a TERM no longer waits for it.
   */
  private requestTimedOut(req: RequestLike, res: ResponseLike, elapsedMs: number): void {
    this.host.warn(`request "${req.method ?? '?'} ${requestUri(req) ?? '?'}" execution timed out (${(elapsedMs / 1000).toFixed(3)} s), terminating`);
    // The handler may still write: past the end, node:http would emit an 'error' nobody listens to.
    (res as unknown as NodeJS.EventEmitter).on('error', () => {});
    answerFailedRequest(req, res, 503);
    const r = req as RequestLike & { aborted?: boolean; destroyed?: boolean; destroy?(): void; emit?(event: string): boolean };
    if (!r.destroyed) r.destroy?.(); // emits 'close'
    if (!r.aborted) {
      r.aborted = true;
      r.emit?.('aborted');
    }
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  get stopping(): boolean {
    return this.stopReason !== undefined;
  }

  requestStarted(): void {
    this.inFlight++;
  }

  requestFinished(): void {
    if (this.inFlight > 0) this.inFlight--;
    this.exitIfDrained();
  }

  /** Stops accepting, and exits with `reason` and `status` once every request in flight is answered. */
  stop(reason: string, status = 0): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    this.exitStatus = status;
    for (const tracker of this.trackers) tracker.stopAccepting();
    this.exitIfDrained();
  }

  /** Watches `server`'s connections; with `dispatch`, wraps each request in pre/post dispatch. */
  track(server: net.Server, dispatch: boolean): ServerTracker {
    const tracker = new ServerTracker(server, this, dispatch ? this.host : undefined);
    this.trackers.add(tracker);
    if (this.stopping) tracker.stopAccepting();
    return tracker;
  }

  /** A request handler threw, or its promise rejected: that request alone pays for it. */
  requestFailed({ error, req, res }: FailedRequest): void {
    const outcome = answerFailedRequest(req, res);
    this.host.error(`request "${req.method ?? '?'} ${requestUri(req) ?? '?'}" failed (${outcome}): ${util.inspect(error)}`);
  }

  /**
   * An exception no request can be blamed for: the process may be in any state, so (as Node
   * advises) it stops accepting, gives its other requests up to die_timeout to finish, and exits
   * non-zero; the manager replaces it, with the crash-loop backoff.
   */
  uncaughtException(error: unknown): void {
    if (!this.accepting && !this.stopping && cluster.isWorker) return this.failedToStart(error);
    // Thrown by a request's own work while that request is still open: it costs that request only.
    const request = requestContext.getStore();
    if (request && !request.res.writableEnded) return request.fail(error);
    const bound = this.host.dieTimeoutSeconds;
    const already = this.stopping ? ' (already stopping)' : '';
    this.host.error(
      `uncaught exception outside any request${already}; no longer accepting, exiting once the requests in flight ` +
        `finish${bound > 0 ? ` (at most ${bound} s)` : ''}: ${util.inspect(error)}`,
    );
    if (this.stopping) {
      this.exitStatus = UNCAUGHT_EXCEPTION_STATUS;
      return;
    }
    if (bound > 0) {
      setTimeout(() => this.host.exit('exit after an uncaught exception: requests still in flight', UNCAUGHT_EXCEPTION_STATUS), bound * 1000);
    }
    this.stop('exit after an uncaught exception', UNCAUGHT_EXCEPTION_STATUS);
  }

  /**
   * An exception before the worker ever accepted: the app failed to load (a syntax error, a missing
   * module) or to start. Nothing is in flight. The error goes to the manager, which logs it once
   * however many workers fail the same way, and gives up when none ever starts (pool/boot-failures).
   */
  private failedToStart(error: unknown): void {
    this.exiting = true;
    const text = util.inspect(error) + loaderHint(error);
    const logAndExit = (): never => {
      this.host.error(`failed to start: ${text}`);
      return this.host.exit(undefined, UNCAUGHT_EXCEPTION_STATUS);
    };
    const send = process.send?.bind(process);
    if (!send || !process.connected) logAndExit();
    else {
      send({ act: 'fcgi-pm:boot-failed', error: text } satisfies WorkerMessage, undefined, {}, () => this.host.exit(undefined, UNCAUGHT_EXCEPTION_STATUS));
      setTimeout(logAndExit, BOOT_ERROR_SEND_MS); // the manager did not take it
    }
  }

  exitIfDrained(): void {
    if (this.stopReason === undefined || this.exiting || this.inFlight > 0) return;
    for (const tracker of this.trackers) if (tracker.openConnections > 0) return;
    // The manager may have passed this worker a connection (fcgi-pm:adopt) that is still in the IPC
    // channel: exiting now would close it unread. The manager answers 'drained' after everything it
    // sent before, so once the answer is in, every connection sent here has arrived.
    if (!this.drainAcknowledged && cluster.isWorker && process.connected) {
      if (this.drainAsked) return;
      this.drainAsked = true;
      sendToManager({ act: 'fcgi-pm:drained' });
      this.drainWait = setTimeout(() => this.drainAnswered(), DRAIN_ANSWER_TIMEOUT_MS);
      return;
    }
    this.exiting = true;
    const reason = this.stopReason;
    // One turn of the event loop lets the last response's writes leave first.
    setImmediate(() => this.host.exit(reason, this.exitStatus));
  }

  /** The manager's answer to 'drained' (or no answer in time): check again, and exit if still drained. */
  private drainAnswered(): void {
    clearTimeout(this.drainWait);
    this.drainAcknowledged = true;
    this.exitIfDrained();
  }
}

/** Hands `socket` to the manager, or, where that cannot be done, closes it. */
function handOverIfPossible(socket: net.Socket): void {
  if (canHandOver(socket)) handOverToManager(socket);
  else socket.destroy();
}

/** What a TypeScript app that fails to load for want of a loader is told. */
function loaderHint(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code !== 'ERR_UNKNOWN_FILE_EXTENSION' || !/\.[cm]?ts\b/.test(String(message))) return '';
  return '\n(TypeScript needs a loader, given to the manager as a node option: node --import tsx node_modules/.bin/fcgi-pm app.ts, or NODE_OPTIONS="--import tsx")';
}
