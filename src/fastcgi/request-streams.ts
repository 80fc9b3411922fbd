// The stand-ins node-fastcgi's API puts around a request: the RequestSocket that node:http's request
// and response objects sit on (node-fastcgi calls it Request), `req.data` and `res.stderr`.

import type * as http from 'node:http';
import type * as net from 'node:net';
import { Duplex, Readable, Writable } from 'node:stream';
import { RecordType } from './protocol';
import type { FastCgiRequest } from './request';

/**
 * The socket node:http's request and response objects sit on. Its writable side is the request's
 * FCGI_STDOUT; its readable side stays empty (the body goes to `req` directly), but node:http calls
 * its resume() when `req` wants more body, which is what resumes reading the connection.
 */
export class RequestSocket extends Duplex {
  /** node:http's readStart() looks at this flag of a net.Socket. */
  _paused = false;

  constructor(readonly request: FastCgiRequest) {
    super({ decodeStrings: false, allowHalfOpen: true });
    // node:http's server tells the response when its socket drains; so does this one.
    this.on('drain', onSocketDrain);
  }

  // ---- node-fastcgi's Request properties ----
  get _conn(): net.Socket {
    return this.request.conn.socket;
  }
  get _id(): number {
    return this.request.id;
  }
  get _role(): number {
    return this.request.role;
  }
  get _keepAlive(): boolean {
    return this.request.keepConn;
  }
  get params(): Record<string, string> {
    return this.request.params;
  }
  get dataStream(): Readable {
    return this.request.dataStream;
  }
  get errorStream(): Writable {
    return this.request.errorStream;
  }
  get _req(): http.IncomingMessage | undefined {
    return this.request.req;
  }
  get _res(): http.ServerResponse | undefined {
    return this.request.res;
  }
  get bufferSize(): number {
    return this._conn.writableLength;
  }
  get bytesRead(): number {
    return this._conn.bytesRead;
  }
  get bytesWritten(): number {
    return this._conn.bytesWritten;
  }
  get localAddress(): string {
    return this.params.SERVER_ADDR || '::';
  }
  get localPort(): number {
    return parseInt(this.params.SERVER_PORT ?? '', 10) || 0;
  }
  get remoteAddress(): string {
    return this.params.REMOTE_ADDR || '::';
  }
  get remoteFamily(): string {
    return this.remoteAddress.includes('.') ? 'IPv4' : 'IPv6';
  }
  get remotePort(): number {
    return parseInt(this.params.REMOTE_PORT ?? '', 10) || 0;
  }
  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: this.localAddress.includes('.') ? 'IPv4' : 'IPv6', port: this.localPort };
  }
  ref(): this {
    this._conn.ref();
    return this;
  }
  unref(): this {
    this._conn.unref();
    return this;
  }
  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this._conn.setKeepAlive(enable, initialDelay);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this._conn.setNoDelay(noDelay);
    return this;
  }
  setTimeout(msecs: number, callback?: () => void): this {
    if (callback) this.once('timeout', callback);
    this._conn.setTimeout(msecs);
    return this;
  }

  // ---- Flow control: node:http resumes the socket when `req` wants more body ----
  override resume(): this {
    this.request.inputWanted();
    return this;
  }
  override pause(): this {
    return this;
  }

  override _read(): void {}

  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.request.ended) return callback();
    this.request.conn.writeStream(this.request.id, RecordType.STDOUT, chunk, encoding, callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer | string; encoding: BufferEncoding }>, callback: (error?: Error | null) => void): void {
    const request = this.request;
    if (request.ended) return callback();
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) request.conn.writeStream(request.id, RecordType.STDOUT, chunks[i]!.chunk, chunks[i]!.encoding, noop);
    request.conn.writeStream(request.id, RecordType.STDOUT, chunks[last]!.chunk, chunks[last]!.encoding, callback);
  }

  /** Ending the socket itself (node-fastcgi's `res.stdout.end()`) ends the request. */
  override _final(callback: (error?: Error | null) => void): void {
    this.request.end(0);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Destroyed before the response finished: the application gave up on it (node-fastcgi: status 1).
    this.request.end(error ? 1 : 0);
    callback(error);
  }
}

/** `req.data`: the FCGI_DATA stream of a filter request (empty for the other roles). */
export class RequestDataStream extends Readable {
  constructor(private readonly request: FastCgiRequest) {
    super();
  }
  override _read(): void {
    this.request.inputWanted();
  }
}

/** `res.stderr`: FCGI_STDERR records, which stop at FCGI_END_REQUEST (nothing may follow it). */
export class RequestErrorStream extends Writable {
  constructor(private readonly request: FastCgiRequest) {
    super({ decodeStrings: false });
  }
  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const request = this.request;
    if (request.ended) return callback();
    request.stderrBytes += typeof chunk === 'string' ? chunk.length : chunk.length;
    request.conn.writeStream(request.id, RecordType.STDERR, chunk, encoding, callback);
  }
  override _final(callback: (error?: Error | null) => void): void {
    const request = this.request;
    if (!request.ended && !request.stderrClosed) {
      request.stderrClosed = true;
      request.conn.writeEndOfStream(request.id, RecordType.STDERR);
    }
    callback();
  }
}

function noop(): void {}

/** node:http's private flag behind `res.writableNeedDrain`, found on the first response that drains. */
let needDrainFlag: symbol | null | undefined;

function onSocketDrain(this: RequestSocket): void {
  const res = this.request.res as (http.ServerResponse & Record<symbol, unknown>) | undefined;
  if (!res || res.writableFinished || res.destroyed) return;
  if (needDrainFlag === undefined) needDrainFlag = Object.getOwnPropertySymbols(res).find((s) => s.description === 'kNeedDrain') ?? null;
  if (needDrainFlag) {
    if (!res[needDrainFlag]) return;
    res[needDrainFlag] = false;
  }
  res.emit('drain');
}
