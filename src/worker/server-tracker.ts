// One server's side of the worker lifecycle: its connections, the requests on each, and stopping
// to accept without dropping a request that was already accepted.

import type * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { hasWorkerPath, OBSERVER_LISTENER, workerPathConnection } from '../fastcgi';
import type { AccessLog } from './access-log';
import { connectionOf, guardRequestHandlers, type FailedRequest, type RequestLike, type ResponseLike } from './request-errors';

/** What a tracker reports to, and asks of, the worker lifecycle. */
export interface TrackerLifecycle {
  readonly stopping: boolean;
  exitIfDrained(): void;
  requestFailed(failure: FailedRequest): void;
  requestBegan(req: RequestLike, res: ResponseLike): void;
  requestEnded(res: ResponseLike): void;
  /** access_log, when it is on. */
  readonly accessLog: AccessLog | undefined;
  /** listen_allowed_clients: false for a connection to drop at once. */
  admitConnection(socket: net.Socket): boolean;
  /** How to hand a kept connection over instead of closing it, while other workers serve on. */
  readonly handOver: ((socket: net.Socket) => void) | undefined;
  /** status_path and ping_path: the library's own answer to `req`, if it asks for one. */
  readonly builtin: ((req: RequestLike) => ((req: RequestLike, res: ResponseLike) => void) | undefined) | undefined;
}

/** Called around each request when the library dispatches (`attach(server, { dispatch: true })`). */
export interface Dispatcher {
  preDispatch(): void;
  postDispatch(): void;
}

interface ConnectionState {
  active: number;
  served: number;
}

/** The server events a request can arrive by: node:http's, and node-fastcgi's three roles. */
export const REQUEST_EVENTS = ['request', 'authorize', 'filter'] as const;

/**
 * A connection accepted just before the stop may not have delivered its request yet; it gets this
 * long to do so before it is closed.
 */
const FRESH_CONNECTION_GRACE_MS = 1_000;

export class ServerTracker {
  private readonly connections = new Map<net.Socket, ConnectionState>();

  constructor(
    private readonly server: net.Server,
    private readonly lifecycle: TrackerLifecycle,
    private readonly dispatcher: Dispatcher | undefined,
  ) {
    server.on('connection', (socket: net.Socket) => this.onConnection(socket));
    for (const event of REQUEST_EVENTS) {
      // Prepended so that preDispatch runs before the application's handler.
      // Marked as an observer: the worker path must not take it for the application handling a role.
      const listener = Object.assign((req: RequestLike, res: ResponseLike) => this.onRequest(req, res), { [OBSERVER_LISTENER]: true });
      server.prependListener(event, listener);
    }
    guardRequestHandlers(server, REQUEST_EVENTS, (failure) => lifecycle.requestFailed(failure), (req) => lifecycle.builtin?.(req));
  }

  get openConnections(): number {
    return this.connections.size;
  }

  stopAccepting(): void {
    if (this.server.listening) this.server.close();
    this.closeIdleConnections();
    for (const [socket, state] of this.connections) {
      // A kept (FCGI_KEEP_CONN) connection is retired after its last FCGI_END_REQUEST (src/fastcgi).
      workerPathConnection(socket)?.drain(this.lifecycle.handOver);
      this.closeIfSilent(socket, state);
    }
  }

  /** The worker may hand its kept connections over now (the manager said so after the stop began). */
  handOverConnections(): void {
    for (const socket of this.connections.keys()) workerPathConnection(socket)?.drain(this.lifecycle.handOver);
  }

  /**
   * Serves a kept connection another worker handed over; false if this server cannot. A worker that
   * began to stop meanwhile takes it too, as a connection accepted just before the stop: it serves
   * what arrives on it, or hands it on again.
   */
  adopt(socket: net.Socket): boolean {
    if (!hasWorkerPath(this.server)) return false;
    this.server.emit('connection', socket);
    return true;
  }

  private onConnection(socket: net.Socket): void {
    if (!this.lifecycle.admitConnection(socket)) {
      socket.destroy();
      return;
    }
    const state = this.stateOf(socket);
    // 'close' comes once: on() spares once()'s wrapper, per connection.
    socket.on('close', () => {
      this.connections.delete(socket);
      this.lifecycle.exitIfDrained();
    });
    if (this.lifecycle.stopping) {
      workerPathConnection(socket)?.drain(this.lifecycle.handOver);
      this.closeIfSilent(socket, state);
    }
  }

  private stateOf(socket: net.Socket): ConnectionState {
    let state = this.connections.get(socket);
    if (!state) {
      state = { active: 0, served: 0 };
      this.connections.set(socket, state);
    }
    return state;
  }

  private onRequest(req: RequestLike, res: ResponseLike): void {
    const state = this.stateOf(connectionOf(req));
    state.active++;
    const accessLog = this.lifecycle.accessLog;
    const began = accessLog ? performance.now() : 0;
    this.lifecycle.requestBegan(req, res);
    this.dispatcher?.preDispatch();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      state.active--;
      state.served++;
      this.lifecycle.requestEnded(res);
      accessLog?.record(req, res, began);
      this.dispatcher?.postDispatch();
      if (this.lifecycle.stopping) setImmediate(() => this.closeIdleConnections());
    };
    // finish() runs once whichever comes first: on() spares once()'s wrappers, per request.
    res.on('finish', finish);
    res.on('close', finish);
  }

  /** node:http keeps idle keep-alive connections open; it knows which ones are idle. */
  private closeIdleConnections(): void {
    const http = this.server as net.Server & { closeIdleConnections?: () => void };
    if (typeof http.closeIdleConnections === 'function') http.closeIdleConnections();
  }

  /** Closes a connection that has not begun a request within the grace period. */
  private closeIfSilent(socket: net.Socket, state: ConnectionState): void {
    if (state.served > 0 || state.active > 0) return;
    setTimeout(() => {
      if (state.served === 0 && state.active === 0) socket.destroy();
    }, FRESH_CONNECTION_GRACE_MS).unref();
  }
}
