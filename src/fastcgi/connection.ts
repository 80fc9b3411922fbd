// One FastCGI connection from the web server: reads records, runs the requests multiplexed on it,
// and writes their answers.
//
// What it does that node-fastcgi 2.0.0 does not:
// - honours FCGI_KEEP_CONN: the connection stays open for the next request, and is closed (FIN after
//   the last FCGI_END_REQUEST, reading on until the peer closes) only when a request asked for it, or
//   when the worker stops (drain());
// - writes nothing for a request after its FCGI_END_REQUEST;
// - answers a record of an unknown type with FCGI_UNKNOWN_TYPE, and on a malformed stream closes
//   this connection only;
// - refuses a second request on a connection with FCGI_CANT_MPX_CONN when multiplexing is off, and
//   any request beyond maxReqs with FCGI_OVERLOADED, so FCGI_GET_VALUES reports what is enforced;
// - reads the request body only as fast as the application consumes it, and makes writers wait
//   while the socket's buffer is full (record-writer.ts);
// - stops reading a peer that sends records needing answers (FCGI_GET_VALUES, unknown types,
//   requests) faster than it reads them, once OUTPUT_LIMIT bytes wait to be written: what the
//   worker holds for a connection is bounded, whatever the peer sends;
// - writes a request's answer with one system call (record-writer.ts).

import type * as net from 'node:net';
import {
  decodeBeginRequest,
  decodeNameValuePairs,
  encodeEndRequest,
  encodeNameValuePairs,
  encodeRecord,
  encodeUnknownType,
  FLAG_KEEP_CONN,
  HEADER_LENGTH,
  MANAGEMENT_REQUEST_ID,
  MAX_CONTENT_LENGTH,
  NameCache,
  ProtocolError,
  ProtocolStatus,
  RecordType,
  Role,
  Variable,
  writeHeader,
} from './protocol';
import { RecordReader } from './record-reader';
import { RecordWriter } from './record-writer';
import { FastCgiRequest, type RequestConnection, type ResponseClasses } from './request';

/** node-fastcgi's server configuration (createServer's last argument, with its defaults filled in). */
export interface ServerConfig {
  maxConns: number;
  maxReqs: number;
  multiplex: boolean;
  valueMap: Record<string, string>;
  [key: string]: unknown;
}

export interface FastCgiServer extends net.Server {
  config: ServerConfig;
  timeout: number;
}

/** Marks a server listener that only observes requests (the worker's own bookkeeping), so that it
 * does not count as the application handling a role. */
export const OBSERVER_LISTENER = Symbol.for('fcgi-procmanager.observer-listener');

/** After its FIN, a connection waits this long for the web server to close its side. */
const LINGER_MS = 5_000;
/**
 * Retiring kept connections when the worker stops. Closing a kept connection races with the web
 * server sending its next request on it: nginx then logs "upstream prematurely closed connection"
 * or a reset, and retries the request, or answers 502 if it is a POST. So:
 * - a connection busy when the stop comes, or used again within DRAIN_QUIET_MS of it (nginx reuses
 *   the connection it freed last first), is not closed by the worker: its last FCGI_END_REQUEST
 *   goes out with a retire hint behind it, in the same write. nginx does not keep a connection on
 *   which anything follows FCGI_END_REQUEST, so it closes it itself, with no error and no race;
 * - a connection quiet for DRAIN_QUIET_MS is closed at once: it is at the far end of nginx's cache;
 * - a web server that ignores the hint gets the connection closed RETIRE_WAIT_MS after the hint.
 * The hint is an empty FCGI_GET_VALUES_RESULT: a management record (request id 0) answering nothing.
 *
 * Apache's mod_proxy_fcgi reuses a connection with bytes waiting on it (it only checks for EOF), and
 * then fails its next request on the hint ("AH01069: Got bogus rid 0, expected 1"). For Apache
 * (told apart by the SERVER_SOFTWARE it always sends) the connection is closed right behind its last
 * answer instead, which still races, since Apache reuses a connection within a millisecond.
 *
 * All of this is the fallback. While other workers serve on, a retiring worker hands its kept
 * connections over to them once idle (worker/connection-handover.ts) and closes none: no race.
 */
const DRAIN_QUIET_MS = 1_000;
/** Sweeps without traffic after which a connection has been idle for the server's timeout. */
const IDLE_SWEEPS = 4;
const RETIRE_WAIT_MS = 1_000;
/**
 * Past this many bytes written and not yet taken by the kernel, the connection is not read until
 * they are (socket 'drain'). What one chunk read can add on top is bounded too: its records'
 * answers, at most twice its size (an 8-byte unknown record gets a 16-byte answer).
 */
const OUTPUT_LIMIT = 256 * 1024;

const ROLE_EVENTS: Record<number, string> = {
  [Role.RESPONDER]: 'request',
  [Role.AUTHORIZER]: 'authorize',
  [Role.FILTER]: 'filter',
};

/** What the connections of one server share. */
export class ServerState {
  activeRequests = 0;
  readonly paramNames = new NameCache();
  /** The connections the idle sweep watches (node-fastcgi's server `timeout`). */
  private readonly watched = new Set<FastCgiConnection>();
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    readonly server: FastCgiServer,
    readonly classes: ResponseClasses,
  ) {}

  /**
   * node-fastcgi closes a connection with no traffic for the server's `timeout` (2 minutes), with a
   * socket timer per connection. One sweep per server does it here, every quarter of the timeout, so
   * a connection per request arms no timer: a connection that saw no traffic in IDLE_SWEEPS sweeps
   * in a row times out (after between 1 and 1.25 times the timeout).
   */
  watch(connection: FastCgiConnection): void {
    const timeout = this.server.timeout;
    if (!timeout) return;
    this.watched.add(connection);
    this.sweep ??= setInterval(() => {
      for (const c of this.watched) c.sweepIdle();
    }, timeout / IDLE_SWEEPS).unref();
  }

  unwatch(connection: FastCgiConnection): void {
    this.watched.delete(connection);
  }

  /** True if the application listens for `event` (the worker's observers do not count). */
  handles(event: string): boolean {
    for (const listener of this.server.listeners(event)) {
      if (!(listener as unknown as Record<symbol, unknown>)[OBSERVER_LISTENER]) return true;
    }
    return false;
  }
}

/** The connection object serving a socket, on the socket (a property costs less than a WeakMap entry). */
const CONNECTION = Symbol('fcgi-procmanager.connection');
type WithConnection = net.Socket & { [CONNECTION]?: FastCgiConnection };

/** The worker-path connection serving `socket`, if any. */
export function workerPathConnection(socket: net.Socket): FastCgiConnection | undefined {
  return (socket as WithConnection)[CONNECTION];
}

export class FastCgiConnection implements RequestConnection {
  private readonly requests = new Map<number, FastCgiRequest>();
  /** Requests answered before the web server finished sending them: the rest is read and dropped. */
  private readonly unfinishedInput = new Map<number, FastCgiRequest>();
  private readonly reader: RecordReader;
  private readonly out: RecordWriter;
  /** Why reading is paused: requests whose body consumer is full, and the output backlog. */
  private readPauses = 0;
  private outputBlocked = false;
  /** A 'drain' listener is on the socket (onDrain). */
  private drainAwaited = false;
  /** A request came without FCGI_KEEP_CONN: close (FIN, reading on) once no request is left. */
  private closeWhenIdle = false;
  /** The worker stops: retire this connection (see DRAIN_QUIET_MS). */
  private draining = false;
  /** Our FIN is sent (or the socket is gone): nothing more is read or written. */
  private finished = false;
  private served = 0;
  /** When a record last arrived or a request last ended (ms, monotonic). */
  private lastActive = performance.now();
  private drainTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Reads and writes seen, and the count at the idle sweeps (ServerState.watch). */
  private traffic = 0;
  private trafficAtSweep = 0;
  private idleSweeps = 0;
  /** Set by drain() when this connection is to be handed over, not closed (see DRAIN_QUIET_MS). */
  private handOver: ((socket: net.Socket) => void) | undefined;

  constructor(
    readonly socket: net.Socket,
    private readonly state: ServerState,
  ) {
    (socket as WithConnection)[CONNECTION] = this;
    this.reader = new RecordReader((type, requestId, content) => this.onRecord(type, requestId, content));
    this.out = new RecordWriter(socket);
    const server = state.server;
    state.watch(this);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => this.onClose());
    socket.on('timeout', () => this.onTimeout());
    socket.once('error', (err) => {
      socket.on('error', noop);
      if (!server.emit('clientError', err, socket)) socket.destroy();
    });
  }

  /**
   * The worker is stopping: close this connection as soon as it is idle, right after the last
   * FCGI_END_REQUEST. A connection that has not served anything yet is left to the caller's grace
   * period (the web server may be about to send its first request), and closes after that request.
   */
  drain(handOver?: (socket: net.Socket) => void): void {
    this.draining = true;
    if (handOver) this.handOver = handOver;
    if (!this.handOverIfIdle()) this.retireIfQuiet();
  }

  /**
   * Hands the connection over (see drain()) if it is between requests and nothing it sent is held
   * here: no record half-read, no chunk half-cut, nothing buffered unread, nothing left to write.
   */
  private handOverIfIdle(): boolean {
    if (!this.handOver || this.finished || this.closeWhenIdle || !this.idle || this.reader.reading) return false;
    if (this.socket.readableLength > 0 || this.socket.destroyed) return false;
    this.out.flush();
    if (this.socket.writableLength > 0) {
      this.awaitDrain();
      return false;
    }
    this.finished = true;
    clearTimeout(this.drainTimer);
    clearTimeout(this.lingerTimer);
    this.reader.stop();
    this.handOver(this.socket);
    return true;
  }

  /** Closes an idle kept connection once it has been quiet for DRAIN_QUIET_MS. */
  private retireIfQuiet(): void {
    if (this.finished || this.served === 0 || this.drainTimer || !this.idle) return;
    const quietFor = performance.now() - this.lastActive;
    if (quietFor >= DRAIN_QUIET_MS) return this.closeNow();
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      this.retireIfQuiet();
    }, DRAIN_QUIET_MS - quietFor).unref();
  }

  /** No request is running or still arriving, and no record is half-read. */
  private get idle(): boolean {
    return this.requests.size === 0 && this.unfinishedInput.size === 0 && this.reader.pendingBytes === 0;
  }

  // ---- Reading ------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.lastActive = performance.now();
    this.traffic++;
    try {
      this.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err; // the application's own exception
      this.fail(err);
      return;
    }
    if (this.out.backlog > OUTPUT_LIMIT) this.blockOnOutput();
    if (this.closeWhenIdle) this.closeIfIdle();
    else if (this.draining) this.handOverIfIdle();
  }

  /**
   * The peer sends faster than it reads our answers: hand them all to the socket, and read no more
   * until the socket has written them. The socket then holds more than its high-water mark (16 KiB),
   * so it emits 'drain' once it is empty (or closes).
   */
  private blockOnOutput(): void {
    this.out.flush();
    if (this.outputBlocked || this.socket.destroyed || this.socket.writableLength <= OUTPUT_LIMIT) return;
    this.outputBlocked = true;
    this.pauseReading();
    this.awaitDrain();
  }

  private awaitDrain(): void {
    if (this.drainAwaited) return;
    this.drainAwaited = true;
    this.socket.once('drain', this.onDrain);
  }

  private readonly onDrain = (): void => {
    this.drainAwaited = false;
    if (this.outputBlocked) {
      this.outputBlocked = false;
      this.resumeReading();
    }
    if (this.draining) this.handOverIfIdle();
  };

  private onRecord(type: number, requestId: number, content: Buffer): void {
    if (requestId === MANAGEMENT_REQUEST_ID) {
      if (type === RecordType.GET_VALUES) this.answerGetValues(content);
      else this.out.write(encodeUnknownType(type));
      return;
    }
    switch (type) {
      case RecordType.BEGIN_REQUEST:
        this.beginRequest(requestId, content);
        return;
      case RecordType.PARAMS: {
        const request = this.requests.get(requestId);
        if (request?.addParams(content, this.state.paramNames)) this.dispatch(request);
        return;
      }
      case RecordType.STDIN:
        (this.requests.get(requestId) ?? this.unfinishedInput.get(requestId))?.stdin(content);
        return;
      case RecordType.DATA:
        (this.requests.get(requestId) ?? this.unfinishedInput.get(requestId))?.data(content);
        return;
      case RecordType.ABORT_REQUEST: {
        const request = this.requests.get(requestId);
        if (!request) return;
        request.end(1);
        request.abort();
        return;
      }
      case RecordType.END_REQUEST:
      case RecordType.STDOUT:
      case RecordType.STDERR:
      case RecordType.GET_VALUES:
      case RecordType.GET_VALUES_RESULT:
      case RecordType.UNKNOWN_TYPE:
        return; // known types that only an application sends, or management ones on a request id: ignored
      default:
        this.out.write(encodeUnknownType(type));
    }
  }

  private beginRequest(requestId: number, content: Buffer): void {
    const { role, flags } = decodeBeginRequest(content);
    const server = this.state.server;
    if (this.requests.has(requestId)) {
      // Only reported, as node-fastcgi does; and the Error only made for a listener (a flood of them costs).
      if (server.listenerCount('protocolError') > 0) server.emit('protocolError', new Error(`Request id ${requestId} already in use`));
      return;
    }
    this.unfinishedInput.delete(requestId); // the web server has moved on from the old one
    const keepConn = (flags & FLAG_KEEP_CONN) !== 0;
    const config = server.config;
    if (!config.multiplex && this.requests.size > 0) return this.refuse(requestId, ProtocolStatus.CANT_MPX_CONN, keepConn);
    if (this.state.activeRequests >= config.maxReqs) return this.refuse(requestId, ProtocolStatus.OVERLOADED, keepConn);
    const event = ROLE_EVENTS[role];
    if (!event || !this.state.handles(event)) return this.refuse(requestId, ProtocolStatus.UNKNOWN_ROLE, keepConn);
    this.requests.set(requestId, new FastCgiRequest(this, requestId, role, keepConn));
    this.state.activeRequests++;
  }

  private refuse(requestId: number, protocolStatus: number, keepConn: boolean): void {
    this.out.write(encodeEndRequest(requestId, 1, protocolStatus));
    if (!keepConn) this.closeWhenIdle = true;
  }

  private dispatch(request: FastCgiRequest): void {
    const { req, res } = request.createReqRes(this.state.classes);
    this.state.server.emit(ROLE_EVENTS[request.role]!, req, res);
  }

  private answerGetValues(content: Buffer): void {
    const config = this.state.server.config;
    const answers: Array<[string, string]> = [];
    let bytes = 0;
    decodeNameValuePairs(content, (name) => {
      const value = this.variable(config, name);
      if (value === undefined) return; // the spec: unknown names are left out of the answer
      bytes += name.length + value.length + 8;
      if (bytes <= MAX_CONTENT_LENGTH) answers.push([name, value]);
    });
    this.out.write(encodeRecord(RecordType.GET_VALUES_RESULT, MANAGEMENT_REQUEST_ID, encodeNameValuePairs(answers)));
  }

  private variable(config: ServerConfig, name: string): string | undefined {
    switch (name) {
      case Variable.MPXS_CONNS:
        return config.multiplex ? '1' : '0';
      case Variable.MAX_CONNS:
        return String(config.maxConns);
      case Variable.MAX_REQS:
        return String(config.maxReqs);
    }
    // node-fastcgi's valueMap: further variables answered from the server's config.
    if (!Object.prototype.hasOwnProperty.call(config.valueMap, name)) return undefined;
    const value = config[config.valueMap[name]!];
    return value === undefined || value === null ? undefined : String(value);
  }

  /** The stream cannot be read on: this connection goes, with its requests; the others stay. */
  private fail(err: Error): void {
    this.state.server.emit('protocolError', err);
    this.finished = true;
    this.reader.stop();
    this.socket.destroy();
  }

  /** The idle sweep (ServerState.watch): times the connection out after IDLE_SWEEPS sweeps with no traffic. */
  sweepIdle(): void {
    if (this.traffic !== this.trafficAtSweep) {
      this.trafficAtSweep = this.traffic;
      this.idleSweeps = 0;
      return;
    }
    if (++this.idleSweeps < IDLE_SWEEPS) return;
    this.idleSweeps = 0;
    this.onTimeout();
  }

  private onTimeout(): void {
    let handled = false;
    for (const request of this.requests.values()) {
      if (request.socket?.emit('timeout', this.socket)) handled = true;
      if (request.req?.emit('timeout', request.socket)) handled = true;
      if (request.res?.emit('timeout', request.socket)) handled = true;
    }
    if (this.state.server.emit('timeout', this.socket)) handled = true;
    if (!handled) this.socket.destroy();
  }

  private onClose(): void {
    this.finished = true;
    this.state.unwatch(this);
    clearTimeout(this.drainTimer);
    clearTimeout(this.lingerTimer);
    this.unfinishedInput.clear();
    this.reader.stop();
    this.out.discard();
    for (const request of [...this.requests.values()]) {
      request.end(1);
      request.abort();
    }
  }

  // ---- Flow control of the request bodies ---------------------------------------------------

  pauseInput(_request: FastCgiRequest): void {
    this.pauseReading();
  }

  resumeInput(_request: FastCgiRequest): void {
    this.resumeReading();
  }

  private pauseReading(): void {
    if (this.readPauses++ === 0) this.socket.pause();
  }

  private resumeReading(): void {
    if (--this.readPauses === 0 && !this.socket.destroyed) this.socket.resume();
  }

  // ---- Writing ------------------------------------------------------------------------------

  writeStream(requestId: number, type: number, chunk: Buffer | string, encoding: BufferEncoding, callback: () => void): void {
    if (this.finished || this.socket.destroyed) return callback();
    this.traffic++;
    this.out.writeStream(requestId, type, chunk, encoding, callback);
  }

  writeEndOfStream(requestId: number, type: number): void {
    if (!this.finished && !this.socket.destroyed) this.out.writeEndOfStream(requestId, type);
  }

  endRequest(request: FastCgiRequest, appStatus: number): void {
    if (this.requests.get(request.id) !== request) return;
    this.requests.delete(request.id);
    this.state.activeRequests--;
    this.served++;
    // The worker stops and this was the connection's last request: retire it (see DRAIN_QUIET_MS):
    // hand it over, or else send the hint, or close right behind the answer for Apache.
    let retire = this.draining && request.keepConn && this.requests.size === 0 && !this.finished;
    const handOver = retire && this.handOver !== undefined;
    const closeBehind = retire && !handOver && isApache(request.params);
    if (handOver || closeBehind) retire = false;
    if (!this.finished && !this.socket.destroyed) {
      // End of FCGI_STDOUT, of FCGI_STDERR if it was used, then FCGI_END_REQUEST: one buffer.
      const closeStderr = request.stderrBytes > 0 && !request.stderrClosed;
      const records = Buffer.allocUnsafe(HEADER_LENGTH * ((closeStderr ? 4 : 3) + (retire ? 1 : 0)));
      writeHeader(records, 0, RecordType.STDOUT, request.id, 0);
      let at = HEADER_LENGTH;
      if (closeStderr) {
        writeHeader(records, at, RecordType.STDERR, request.id, 0);
        at += HEADER_LENGTH;
      }
      encodeEndRequest(request.id, appStatus, ProtocolStatus.REQUEST_COMPLETE).copy(records, at);
      at += 2 * HEADER_LENGTH;
      if (retire) writeHeader(records, at, RecordType.GET_VALUES_RESULT, MANAGEMENT_REQUEST_ID, 0);
      this.out.write(records);
      if (retire) this.out.flush(); // now, so that the hint travels in the same write as FCGI_END_REQUEST
    }
    this.lastActive = performance.now();
    if (!request.inputComplete) this.unfinishedInput.set(request.id, request);
    if (handOver) {
      this.handOverIfIdle(); // or once the rest of the request is read (onData, inputComplete)
      return;
    }
    if (closeBehind && this.idle) return this.closeNow(); // close(2) at once: the FIN right behind the answer
    if (!request.keepConn || closeBehind) this.closeWhenIdle = true;
    if (this.closeWhenIdle) this.closeIfIdle();
    else if (retire) {
      // The web server closes the connection on seeing the hint; if it does not, we do.
      clearTimeout(this.drainTimer);
      this.drainTimer = setTimeout(() => {
        this.drainTimer = undefined;
        if (this.idle) this.closeNow();
      }, RETIRE_WAIT_MS).unref();
    }
  }

  inputComplete(request: FastCgiRequest): void {
    if (this.unfinishedInput.get(request.id) !== request) return;
    this.unfinishedInput.delete(request.id);
    if (this.closeWhenIdle) this.closeIfIdle();
    else if (this.draining) this.handOverIfIdle();
  }

  /**
   * The web server asked for the close: once no request is left and everything it sent has been
   * read (closing with unread input makes the kernel reset the connection, and the answer may be
   * lost), FIN, and read on until it closes its side, so that a client still sending (cgi-fcgi sends
   * its empty FCGI_STDIN after reading the answer) gets no EPIPE.
   */
  private closeIfIdle(): void {
    if (this.finished || this.requests.size > 0) return;
    // An answer given while its request's records are being read (the application answered at the end
    // of FCGI_PARAMS, with the empty FCGI_STDIN in the same chunk): onData checks again once the chunk
    // is read, with no timer armed and cleared for every request.
    if (this.reader.reading) return;
    if (!this.idle) {
      // ... but not forever: a peer that never finishes its request is cut off.
      this.lingerTimer ??= setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
      return;
    }
    // Everything the request sent has been read: close(2) at once puts the FIN right behind the
    // answer (a connection per request, as nginx opens by default, then costs one system call
    // and no timer, instead of shutdown(2), a timer and a wait for the web server's FIN).
    this.closeNow();
  }

  /**
   * Closes an idle connection now (its last request, or the worker stops). Everything sent to us has
   * been read, so close(2) puts the FIN right behind our last bytes; with bytes still to write, the
   * FIN follows them, and a peer that never closes its side is cut off after LINGER_MS.
   */
  private closeNow(): void {
    if (this.finished || !this.idle) return;
    this.finished = true;
    this.reader.stop();
    this.out.flush(); // the last FCGI_END_REQUEST goes before the FIN
    clearTimeout(this.lingerTimer);
    if (this.socket.writableLength === 0 && this.socket.readableLength === 0) {
      this.socket.destroy();
      return;
    }
    this.socket.end();
    this.lingerTimer = setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }
}

/** Apache httpd sends SERVER_SOFTWARE with every request, "Apache" first whatever its ServerTokens. */
function isApache(params: Record<string, string>): boolean {
  return params.SERVER_SOFTWARE?.startsWith('Apache') === true;
}

function noop(): void {}
