// The worker side: counts requests in flight, and on TERM/HUP (or when the manager is gone) stops
// accepting and exits once the requests it holds are answered.
//
// Perl's worker serves one request at a time, so it can check for signals after each one
// (pm_post_dispatch). A Node worker serves many at once: it exits when none is left in flight and
// every connection it accepted is closed, so no accepted request is dropped.

import type * as net from 'node:net';
import { OBSERVER_LISTENER, workerPathConnection } from './fastcgi';

/** What the worker side needs from its ProcManager. */
export interface WorkerHost {
  preDispatch(): void;
  postDispatch(): void;
  exit(msg?: string, status?: number): never;
}

/**
 * A connection accepted just before the stop may not have delivered its request yet; it gets this
 * long to do so before it is closed.
 */
const FRESH_CONNECTION_GRACE_MS = 1_000;

export class WorkerLifecycle {
  private inFlight = 0;
  private stopReason: string | undefined;
  private exiting = false;
  private readonly trackers = new Set<ServerTracker>();

  constructor(private readonly host: WorkerHost) {}

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

  /** Stops accepting, and exits with `reason` once every request in flight is answered. */
  stop(reason: string): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    for (const tracker of this.trackers) tracker.stopAccepting();
    this.exitIfDrained();
  }

  /** Watches `server`'s connections; with `dispatch`, wraps each request in pre/post dispatch. */
  track(server: net.Server, dispatch: boolean): void {
    const tracker = new ServerTracker(server, this, dispatch ? this.host : undefined);
    this.trackers.add(tracker);
    if (this.stopping) tracker.stopAccepting();
  }

  exitIfDrained(): void {
    if (this.stopReason === undefined || this.exiting || this.inFlight > 0) return;
    for (const tracker of this.trackers) if (tracker.openConnections > 0) return;
    this.exiting = true;
    const reason = this.stopReason;
    // One turn of the event loop lets the last response's writes leave first.
    setImmediate(() => this.host.exit(reason));
  }
}

interface ConnectionState {
  active: number;
  served: number;
}

/** The servers events a request can arrive by: node:http's, and node-fastcgi's three roles. */
const REQUEST_EVENTS = ['request', 'authorize', 'filter'] as const;

class ServerTracker {
  private readonly connections = new Map<net.Socket, ConnectionState>();

  constructor(
    private readonly server: net.Server,
    private readonly lifecycle: WorkerLifecycle,
    private readonly dispatcher: WorkerHost | undefined,
  ) {
    server.on('connection', (socket: net.Socket) => this.onConnection(socket));
    for (const event of REQUEST_EVENTS) {
      // Prepended so that preDispatch runs before the application's handler.
      // Marked as an observer: the worker path must not take it for the application handling a role.
      const listener = Object.assign((req: RequestLike, res: ResponseLike) => this.onRequest(req, res), { [OBSERVER_LISTENER]: true });
      server.prependListener(event, listener);
    }
  }

  get openConnections(): number {
    return this.connections.size;
  }

  stopAccepting(): void {
    if (this.server.listening) this.server.close();
    this.closeIdleConnections();
    for (const [socket, state] of this.connections) {
      // A kept (FCGI_KEEP_CONN) connection is retired after its last FCGI_END_REQUEST (src/fastcgi).
      workerPathConnection(socket)?.drain();
      this.closeIfSilent(socket, state);
    }
  }

  private onConnection(socket: net.Socket): void {
    const state = this.stateOf(socket);
    socket.once('close', () => {
      this.connections.delete(socket);
      this.lifecycle.exitIfDrained();
    });
    if (this.lifecycle.stopping) {
      workerPathConnection(socket)?.drain();
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
    this.dispatcher?.preDispatch();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      state.active--;
      state.served++;
      this.dispatcher?.postDispatch();
      if (this.lifecycle.stopping) setImmediate(() => this.closeIdleConnections());
    };
    res.once('finish', finish);
    res.once('close', finish);
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

interface RequestLike {
  socket?: unknown;
}

interface ResponseLike {
  once(event: 'finish' | 'close', listener: () => void): unknown;
}

/** The client connection a request came on: node-fastcgi's request stream keeps it as `_conn`. */
function connectionOf(req: RequestLike): net.Socket {
  const socket = req.socket as { _conn?: net.Socket } & net.Socket;
  return socket._conn ?? socket;
}
