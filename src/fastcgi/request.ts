// One FastCGI request, and how node-fastcgi's API shows it: `req` is an http.IncomingMessage, `res`
// is node-fastcgi's own Response (an http.ServerResponse), and both sit on a RequestSocket
// (request-streams.ts), so that code written against node-fastcgi sees no change.

import * as http from 'node:http';
import type * as net from 'node:net';
import type { Writable } from 'node:stream';
import { decodeNameValuePairs, type NameCache, ProtocolError, Role } from './protocol';
import { RequestDataStream, RequestErrorStream, RequestSocket } from './request-streams';

/** What a request needs from its connection. */
export interface RequestConnection {
  readonly socket: net.Socket;
  /** Queues `chunk` as records of `type`; `callback` runs when the writer may go on (backpressure). */
  writeStream(requestId: number, type: number, chunk: Buffer | string, encoding: BufferEncoding, callback: () => void): void;
  /** Queues the empty record that ends stream `type` of a request. */
  writeEndOfStream(requestId: number, type: number): void;
  /** Writes the stream terminators and FCGI_END_REQUEST, and forgets the request. */
  endRequest(request: FastCgiRequest, appStatus: number): void;
  /** The web server has sent the whole of a request that was already answered. */
  inputComplete(request: FastCgiRequest): void;
  /** The request's input consumer is full: stop reading the connection until it asks for more. */
  pauseInput(request: FastCgiRequest): void;
  resumeInput(request: FastCgiRequest): void;
}

/** The Response classes of the node-fastcgi copy the server came from. */
export interface ResponseClasses {
  Response: new (req: http.IncomingMessage) => http.ServerResponse;
  AuthorizerResponse: new (req: http.IncomingMessage) => http.ServerResponse;
}

/** The most FCGI_PARAMS one request may send (nginx sends a few kilobytes); more is a protocol error. */
export const MAX_PARAMS_BYTES = 1024 * 1024;

const UNDERSCORES = /_/g;
const H = 'H'.charCodeAt(0);

/** node-fastcgi's rule: HTTP_* params, CONTENT_LENGTH and CONTENT_TYPE become request headers. */
function isHeaderParam(name: string): boolean {
  return name.charCodeAt(0) === H ? name.startsWith('HTTP_') : name === 'CONTENT_LENGTH' || name === 'CONTENT_TYPE';
}

export class FastCgiRequest {
  readonly params: Record<string, string> = {};
  private readonly headerParams: string[] = [];
  socket: RequestSocket | undefined;
  req: http.IncomingMessage | undefined;
  res: http.ServerResponse | undefined;
  stdinComplete = false;
  dataComplete: boolean;
  /** FCGI_END_REQUEST is written (or the connection is gone): nothing more goes out for this id. */
  ended = false;
  /** Bytes written to FCGI_STDERR: its terminator is sent only for a stream that was used. */
  stderrBytes = 0;
  stderrClosed = false;
  private paramChunks: Buffer[] | undefined = [];
  private paramBytes = 0;
  private dataStreamValue: RequestDataStream | undefined;
  private errorStreamValue: Writable | undefined;
  private inputBlocked = false;

  constructor(
    readonly conn: RequestConnection,
    readonly id: number,
    readonly role: number,
    readonly keepConn: boolean,
  ) {
    // A filter's FCGI_DATA stream follows its stdin; the other roles have none.
    this.dataComplete = role !== Role.FILTER;
  }

  /** The web server has sent all of this request (its stdin, and a filter's data). */
  get inputComplete(): boolean {
    return this.stdinComplete && this.dataComplete;
  }

  /** Adds FCGI_PARAMS content; returns true at the empty record that ends the stream. */
  addParams(content: Buffer, names?: NameCache): boolean {
    const chunks = this.paramChunks;
    if (!chunks) return false; // a repeated end of stream: nothing left to learn
    if (content.length > 0) {
      this.paramBytes += content.length;
      if (this.paramBytes > MAX_PARAMS_BYTES) throw new ProtocolError(`FCGI_PARAMS of request ${this.id} exceed ${MAX_PARAMS_BYTES} bytes`);
      // A view into the chunk it came in, which nothing reuses: kept as it is until the stream ends.
      chunks.push(content);
      return false;
    }
    this.paramChunks = undefined;
    const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.paramBytes);
    const params = this.params;
    const headerParams = this.headerParams;
    decodeNameValuePairs(all, (name, value) => {
      // The params that become headers, in the order a for-in over params would give them.
      if (isHeaderParam(name) && !(name in params)) headerParams.push(name);
      params[name] = value;
    }, names);
    return true;
  }

  /** Builds req and res, as node-fastcgi does, once the params are in. */
  createReqRes(classes: ResponseClasses): { req: http.IncomingMessage; res: http.ServerResponse } {
    const params = this.params;
    const socket = new RequestSocket(this);
    const req = new FastCgiIncomingMessage(socket);
    if (params.SERVER_PROTOCOL) {
      req.httpVersion = params.SERVER_PROTOCOL.slice(5);
      const dot = req.httpVersion.indexOf('.');
      req.httpVersionMajor = parseInt(req.httpVersion, 10);
      req.httpVersionMinor = dot < 0 ? NaN : parseInt(req.httpVersion.slice(dot + 1), 10);
    }
    req.url = urlOf(params);
    const raw = req.rawHeaders;
    const headers = req.headers;
    const addHeaderLine = (req as unknown as AddHeaderLine)._addHeaderLine;
    for (const param of this.headerParams) {
      const isHttp = param.charCodeAt(0) === H && param.startsWith('HTTP_');
      const name = (isHttp ? param.slice(5) : param).replace(UNDERSCORES, '-');
      // node-fastcgi takes the body's type and length from CONTENT_TYPE/CONTENT_LENGTH only.
      if (isHttp && (name === 'CONTENT-TYPE' || name === 'CONTENT-LENGTH')) continue;
      const value = params[param]!;
      raw.push(name, value);
      addHeaderLine.call(req, name, value, headers);
    }
    req.method = params.REQUEST_METHOD || 'GET';
    req.complete = this.stdinComplete && this.dataComplete;

    const res = this.role === Role.AUTHORIZER ? new classes.AuthorizerResponse(req) : new classes.Response(req);
    res.shouldKeepAlive = params.HTTP_CONNECTION === 'keep-alive';
    // The answer goes to the web server, not to an HTTP client: node:http's implicit headers do not
    // belong in it. `Connection` (close or keep-alive, with `Keep-Alive`) is hop-by-hop: Apache's
    // mod_proxy_fcgi and lighttpd pass it on to the client and close its connection after every
    // response. removeHeader marks the implicit one removed, yet lets an explicit
    // setHeader('Connection', ...) or writeHead(..., { Connection }) through; `Keep-Alive` is only
    // ever added along with an implicit `Connection`. `Date` is the web server's to add. (The
    // implicit `Transfer-Encoding: chunked` is removed by node-fastcgi's own Response.)
    res.removeHeader('connection');
    res.sendDate = false;
    res.assignSocket(socket as unknown as net.Socket);
    res.on('finish', () => this.responseFinished());

    // node-fastcgi's additions (`req.data` and `res.stderr` are made when first used).
    req.cgiParams = params;
    (res as unknown as { stdout: RequestSocket }).stdout = socket;

    this.socket = socket;
    this.req = req;
    this.res = res;
    if (req.complete) process.nextTick(() => req.emit('complete'));
    return { req, res };
  }

  /** FCGI_STDIN content; an empty record ends the body. */
  stdin(content: Buffer): void {
    if (this.stdinComplete) return;
    if (this.ended) return this.skipInput(content, 'stdin');
    const req = this.req;
    if (!req) throw new ProtocolError(`FCGI_STDIN for request ${this.id} before the end of its FCGI_PARAMS`);
    if (content.length > 0) {
      if (!req.destroyed && !req.push(content)) this.blockInput();
      return;
    }
    this.stdinComplete = true;
    req.push(null);
    this.markCompleteIfDone();
  }

  /** FCGI_DATA content (filter role); an empty record ends the stream. */
  data(content: Buffer): void {
    if (this.dataComplete) return;
    if (this.ended) return this.skipInput(content, 'data');
    if (!this.req) throw new ProtocolError(`FCGI_DATA for request ${this.id} before the end of its FCGI_PARAMS`);
    const stream = this.dataStream;
    if (content.length > 0) {
      if (!stream.destroyed && !stream.push(content)) this.blockInput();
      return;
    }
    this.dataComplete = true;
    stream.push(null);
    this.markCompleteIfDone();
  }

  /** Input for a request already answered: read to its end, and dropped. */
  private skipInput(content: Buffer, stream: 'stdin' | 'data'): void {
    if (content.length > 0) return;
    if (stream === 'stdin') this.stdinComplete = true;
    else this.dataComplete = true;
    if (this.inputComplete) this.conn.inputComplete(this);
  }

  /** The consumer of stdin or data asks for more. */
  inputWanted(): void {
    if (!this.inputBlocked) return;
    this.inputBlocked = false;
    this.conn.resumeInput(this);
  }

  private blockInput(): void {
    if (this.inputBlocked || this.ended) return;
    this.inputBlocked = true;
    this.conn.pauseInput(this);
  }

  /** The web server aborted the request, or the connection is gone: tell the application. */
  abort(): void {
    const req = this.req;
    if (req && !req.aborted) {
      // node-fastcgi emits 'aborted' for every request it aborts. node:http's destroy() emits it only
      // while the body is not read to its end, and a body read to its end has destroyed itself already:
      // the application would hear nothing.
      if (!req.destroyed) req.destroy(); // emits 'close', and 'aborted' for a body not read to its end
      if (!req.aborted) {
        req.aborted = true;
        req.emit('aborted');
      }
    }
    this.dataStreamValue?.destroy();
    // The socket's 'close' makes the response emit 'close' (node:http's onServerResponseClose).
    this.socket?.destroy();
  }

  get dataStream(): RequestDataStream {
    if (!this.dataStreamValue) {
      this.dataStreamValue = new RequestDataStream(this);
      if (this.dataComplete) this.dataStreamValue.push(null);
    }
    return this.dataStreamValue;
  }

  get errorStream(): Writable {
    return (this.errorStreamValue ??= new RequestErrorStream(this));
  }

  private markCompleteIfDone(): void {
    const req = this.req!;
    req.complete = this.stdinComplete && this.dataComplete;
    if (req.complete) req.emit('complete'); // node-fastcgi's backward-compatible event
  }

  private responseFinished(): void {
    const req = this.req!;
    // As node:http does: a body nobody reads is drained, so the connection can go on.
    const dumpable = req as unknown as { _consuming: boolean; _dump?: () => void };
    if (!dumpable._consuming && typeof dumpable._dump === 'function') dumpable._dump();
    this.end(0);
    // Not from within the socket's write callback, where destroying costs an error object.
    process.nextTick(destroySocket, this.socket!);
  }

  /** Ends the request on the wire (once). */
  end(appStatus: number): void {
    if (this.ended) return;
    this.conn.endRequest(this, appStatus);
    this.ended = true;
    this.inputWanted(); // its body is no longer wanted: never leave the connection paused for it
  }
}

/** node:http's request, with node-fastcgi's `cgiParams` and `data` (the FCGI_DATA stream). */
class FastCgiIncomingMessage extends http.IncomingMessage {
  // Declared only: instance fields would be defined on every request, which costs.
  declare cgiParams: Record<string, string>;

  constructor(socket: RequestSocket) {
    super(socket as unknown as net.Socket);
  }

  get data(): unknown {
    return (this.socket as unknown as RequestSocket).request.dataStream;
  }
  set data(value: unknown) {
    ownProperty(this, 'data', value);
  }
}

/**
 * node-fastcgi's Response classes with its `res.stderr` (FCGI_STDERR), made when first used. The
 * application's `res` stays an instance of node-fastcgi's Response and of http.ServerResponse.
 */
export function withRequestStreams(classes: ResponseClasses): ResponseClasses {
  const add = (Base: ResponseClasses['Response']) =>
    class extends Base {
      get stderr(): unknown {
        return (this as unknown as { stdout: RequestSocket }).stdout.request.errorStream;
      }
      set stderr(value: unknown) {
        ownProperty(this, 'stderr', value);
      }
    };
  return { Response: add(classes.Response), AuthorizerResponse: add(classes.AuthorizerResponse) };
}

/** An application that assigns node-fastcgi's plain properties gets a plain property. */
function ownProperty(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, writable: true, configurable: true, enumerable: true });
}

interface AddHeaderLine {
  _addHeaderLine(field: string, value: string, dest: http.IncomingHttpHeaders): void;
}

function urlOf(params: Record<string, string>): string {
  if (params.REQUEST_URI) return params.REQUEST_URI;
  let url = params.SCRIPT_NAME || '';
  if (params.PATH_INFO) url += params.PATH_INFO;
  if (params.QUERY_STRING) url += '?' + params.QUERY_STRING;
  return url;
}

function destroySocket(socket: RequestSocket): void {
  socket.destroy();
}
