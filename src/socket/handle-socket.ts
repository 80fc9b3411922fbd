// A connection served on its libuv handle, with no net.Socket and no stream machinery on top: reads
// arrive as 'data' straight from the handle, writes go straight to it. The worker path uses only a
// small part of a socket (data, close, error and drain; write, cork, end, destroy, pause, resume),
// and a connection per request (nginx's default) paid for the rest: the net.Socket and Duplex
// constructors, the stream states, their listeners (docs/worker-path.md). This keeps the subset,
// with net.Socket's meaning for each part, so the worker path runs unchanged on either.

import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import type { ShutdownRequest, StreamHandle, StreamInternals, WriteRequest } from './stream-handle';

/** The socket on a handle (the handle's onread and completions find it here, as net's do). */
const OWNER = Symbol('fcgi-procmanager.handle-socket');
type OwnedHandle = StreamHandle & { [OWNER]?: HandleSocket };
type SocketWrite = WriteRequest & { socket: HandleSocket; callback: (() => void) | undefined; callbacks: Array<() => void> | undefined };
type SocketShutdown = ShutdownRequest & { socket: HandleSocket };

/** What a server counts of its connections (net.Server's, so that close() and 'close' stay right). */
export interface ConnectionCounter {
  _connections: number;
  _emitCloseIfDrained?: () => void;
}

/**
 * net.Socket, given a libuv handle: lib/net.js takes `handle` (any stream handle) and `pauseOnCreate`,
 * which its public types leave out (they type `handle` as a bound socket only).
 */
const NetSocketOnHandle = net.Socket as unknown as new (options: { handle: StreamHandle; pauseOnCreate: boolean; readable: boolean; writable: boolean }) => net.Socket;

export class HandleSocket extends EventEmitter {
  destroyed = false;
  /** end() was called: our FIN is queued behind the writes. */
  writableEnded = false;
  /** Data is handed out as it arrives: nothing is ever held here unread. */
  readonly readableLength = 0;
  /** node:http and node-fastcgi look at this flag of a net.Socket. */
  _paused = false;
  private handle: OwnedHandle | undefined;
  private readEnded = false;
  private shutDown = false;
  private reading = false;
  private corked = 0;
  private corkedChunks: Buffer[] = [];
  private corkedCallbacks: Array<() => void> = [];
  private corkedBytes = 0;
  private bytesReadAtClose = 0;
  private bytesWrittenAtClose = 0;
  private timer: NodeJS.Timeout | undefined;
  private peer: { address?: string; port?: number; family?: string } | undefined;
  /** Writes the kernel has not taken yet: their callbacks run when the socket is destroyed, if not before. */
  private readonly pendingWrites = new Set<SocketWrite>();

  constructor(
    handle: StreamHandle,
    private readonly internals: StreamInternals,
    /** The server that accepted this connection, as a net.Socket's `server`. */
    readonly server?: net.Server,
  ) {
    super();
    this.handle = handle as OwnedHandle;
    this.handle[OWNER] = this;
    const counter = server as unknown as ConnectionCounter | undefined;
    if (counter && typeof counter._connections === 'number') counter._connections++;
    handle.onread = onHandleRead;
    this.startReading();
  }

  // ---- Reading ------------------------------------------------------------------------------

  pause(): this {
    this._paused = true;
    if (this.reading && this.handle) {
      this.reading = false;
      this.handle.readStop();
    }
    return this;
  }

  resume(): this {
    this._paused = false;
    this.startReading();
    return this;
  }

  /** Reads nothing more into this process: what the peer sends stays in the kernel (a hand-over). */
  stopReading(): void {
    this.pause();
  }

  private startReading(): void {
    if (this.reading || this.destroyed || this.readEnded || !this.handle) return;
    this.reading = true;
    const err = this.handle.readStart();
    if (err) this.destroy(this.internals.errnoError(err, 'read'));
  }

  /** From the handle: `nread` bytes at the array buffer's offset, 0 (nothing yet), EOF or an error. */
  received(arrayBuffer: ArrayBuffer | undefined): void {
    const { state, kReadBytesOrError, kArrayBufferOffset, UV_EOF } = this.internals;
    const nread = state[kReadBytesOrError]!;
    if (nread > 0) {
      if (this.destroyed || !arrayBuffer) return;
      this.timer?.refresh();
      // The array buffer is this read's own, exactly as long as the data: the view may be kept.
      this.emit('data', Buffer.from(arrayBuffer, state[kArrayBufferOffset]!, nread));
      return;
    }
    if (nread === 0) return;
    if (nread !== UV_EOF) return void this.destroy(this.internals.errnoError(nread, 'read'));
    // The peer closed its side. As net.Socket does without allowHalfOpen: end ours after the writes.
    this.readEnded = true;
    this.reading = false;
    this.emit('end');
    if (!this.writableEnded) this.end();
    else if (this.shutDown) this.destroy();
  }

  // ---- Writing ------------------------------------------------------------------------------

  /** Bytes given to this socket that the kernel has not taken yet. */
  get writableLength(): number {
    return (this.handle?.writeQueueSize ?? 0) + this.corkedBytes;
  }

  get bytesRead(): number {
    return this.handle ? this.handle.bytesRead : this.bytesReadAtClose;
  }

  get bytesWritten(): number {
    return this.handle ? this.handle.bytesWritten : this.bytesWrittenAtClose;
  }

  /** Writes `data`; `callback` runs once the kernel has it (or the socket is gone). */
  write(data: Buffer, callback?: () => void): boolean {
    const handle = this.handle;
    if (this.destroyed || this.writableEnded || !handle) {
      if (callback) process.nextTick(callback);
      return false;
    }
    if (this.corked > 0) {
      this.corkedChunks.push(data);
      this.corkedBytes += data.length;
      if (callback) this.corkedCallbacks.push(callback);
      return true;
    }
    this.timer?.refresh();
    const req = this.newWrite(handle, callback, undefined);
    const err = handle.writeBuffer(req, data);
    this.afterWrite(req, err, data);
    return handle.writeQueueSize === 0;
  }

  cork(): void {
    this.corked++;
  }

  uncork(): void {
    if (this.corked === 0 || --this.corked > 0) return;
    const chunks = this.corkedChunks;
    const callbacks = this.corkedCallbacks;
    this.corkedChunks = [];
    this.corkedCallbacks = [];
    this.corkedBytes = 0;
    const handle = this.handle;
    if (chunks.length === 0) return;
    if (this.destroyed || !handle) {
      for (const callback of callbacks) process.nextTick(callback);
      return;
    }
    const req = this.newWrite(handle, undefined, callbacks);
    const err = handle.writev(req, chunks, true);
    this.afterWrite(req, err, chunks);
  }

  private newWrite(handle: StreamHandle, callback: (() => void) | undefined, callbacks: Array<() => void> | undefined): SocketWrite {
    const req = new this.internals.WriteWrap() as SocketWrite;
    req.handle = handle;
    req.oncomplete = onWriteComplete;
    req.async = false;
    req.buffer = null;
    req.socket = this;
    req.callback = callback;
    req.callbacks = callbacks;
    return req;
  }

  private afterWrite(req: SocketWrite, err: number, data: Buffer | Buffer[]): void {
    if (err !== 0) {
      this.destroy(this.internals.errnoError(err, 'write'));
      return void process.nextTick(writeDone, req);
    }
    const { state, kLastWriteWasAsync } = this.internals;
    req.async = state[kLastWriteWasAsync] !== 0;
    if (req.async) {
      req.buffer = data; // libuv still reads from it
      this.pendingWrites.add(req);
    } else {
      process.nextTick(writeDone, req); // as net.Socket: never from within write()
    }
  }

  /** An asynchronous write has reached the kernel (or failed). */
  writeCompleted(req: SocketWrite, status: number): void {
    this.pendingWrites.delete(req);
    if (status < 0 && !this.destroyed) this.destroy(this.internals.errnoError(status, 'write'));
    writeDone(req);
    if (!this.destroyed && this.writableLength === 0) this.emit('drain');
  }

  /** Sends our FIN once the writes are out; the socket closes when the peer's FIN has come too. */
  end(): this {
    if (this.writableEnded || this.destroyed || !this.handle) return this;
    if (this.corked > 0) {
      this.corked = 1;
      this.uncork();
      if (this.destroyed || !this.handle) return this; // its writev failed
    }
    this.writableEnded = true;
    const req = new this.internals.ShutdownWrap() as SocketShutdown;
    req.handle = this.handle;
    req.oncomplete = onShutdownComplete;
    req.socket = this;
    const err = this.handle.shutdown(req);
    if (err) this.destroy(this.internals.errnoError(err, 'shutdown'));
    return this;
  }

  /** Its status is not looked at, as net's afterShutdown does not: a reset shows as a read error. */
  shutdownCompleted(): void {
    this.shutDown = true;
    if (this.destroyed) return;
    this.emit('finish');
    if (this.readEnded) this.destroy();
  }

  // ---- Closing ------------------------------------------------------------------------------

  /** Closes the handle now ('close' follows); with `err`, 'error' comes first, as net.Socket's does. */
  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    clearTimeout(this.timer);
    this.corkedChunks = [];
    const callbacks = this.corkedCallbacks;
    this.corkedCallbacks = [];
    this.corkedBytes = 0;
    for (const callback of callbacks) process.nextTick(callback);
    for (const req of this.pendingWrites) process.nextTick(writeDone, req);
    this.pendingWrites.clear();
    this.uncount();
    if (err) process.nextTick(() => this.emit('error', err));
    const handle = this.takeHandle();
    if (!handle) {
      process.nextTick(() => this.emit('close', Boolean(err)));
      return this;
    }
    handle.onread = ignoreRead; // must stay a function (Node asserts it)
    handle.close(() => this.emit('close', Boolean(err)));
    return this;
  }

  /**
   * Puts the handle under a net.Socket, reads stopped, to send it to another process: net's hand-over
   * keeps the handle until the other side acknowledges it, and sends it again if it did not arrive.
   * This socket no longer has the handle; destroy() then closes nothing, and emits 'close'.
   */
  handToNetSocket(): net.Socket | undefined {
    if (this.destroyed) return undefined;
    this.pause();
    const handle = this.takeHandle();
    if (!handle) return undefined;
    delete handle[OWNER];
    return new NetSocketOnHandle({ handle, pauseOnCreate: true, readable: true, writable: true });
  }

  /** This socket lets its handle go; its byte counts stay readable. */
  private takeHandle(): OwnedHandle | undefined {
    const handle = this.handle;
    if (!handle) return undefined;
    this.bytesReadAtClose = handle.bytesRead;
    this.bytesWrittenAtClose = handle.bytesWritten;
    this.handle = undefined;
    this.reading = false;
    return handle;
  }

  /** The server counts one connection less (at destroy(), as net.Socket's _destroy does). */
  private uncount(): void {
    const counter = this.server as unknown as ConnectionCounter | undefined;
    if (counter && typeof counter._connections === 'number') {
      counter._connections--;
      counter._emitCloseIfDrained?.();
    }
  }

  // ---- What else node-fastcgi's request passes on to its connection --------------------------

  setTimeout(ms: number, callback?: () => void): this {
    // As net.Socket's: 0 turns the timeout off and takes the callback away again.
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    if (ms > 0 && !this.destroyed) this.timer = setTimeout(() => this.emit('timeout'), ms).unref();
    return this;
  }

  ref(): this {
    this.handle?.ref();
    return this;
  }

  unref(): this {
    this.handle?.unref();
    return this;
  }

  setNoDelay(noDelay = true): this {
    this.handle?.setNoDelay?.(noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelayMs = 0): this {
    this.handle?.setKeepAlive?.(enable, Math.floor(initialDelayMs / 1000));
    return this;
  }

  /** A TCP peer's address (a unix socket has none), read once. */
  get remoteAddress(): string | undefined {
    return this.peerName().address;
  }

  get remotePort(): number | undefined {
    return this.peerName().port;
  }

  get remoteFamily(): string | undefined {
    return this.peerName().family;
  }

  private peerName(): { address?: string; port?: number; family?: string } {
    if (!this.peer) {
      const out: { address?: string; port?: number; family?: string } = {};
      if (this.handle?.getpeername) this.handle.getpeername(out);
      this.peer = out;
    }
    return this.peer;
  }
}

// Module-level callbacks, with the socket found on the handle or the request: no closures per
// connection or per write (as net's onStreamRead and onWriteComplete).

function onHandleRead(this: StreamHandle, arrayBuffer: ArrayBuffer | undefined): void {
  (this as OwnedHandle)[OWNER]?.received(arrayBuffer);
}

function ignoreRead(): void {}

function onWriteComplete(this: WriteRequest, status: number): void {
  const req = this as SocketWrite;
  req.socket.writeCompleted(req, status);
}

function onShutdownComplete(this: ShutdownRequest): void {
  (this as SocketShutdown).socket.shutdownCompleted();
}

function writeDone(req: SocketWrite): void {
  req.buffer = null;
  const { callback, callbacks } = req;
  req.callback = undefined;
  req.callbacks = undefined;
  callback?.();
  if (callbacks) for (const each of callbacks) each();
}

