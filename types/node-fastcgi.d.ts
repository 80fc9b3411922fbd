// Types for the part of node-fastcgi's API that fcgi-procmanager wraps. node-fastcgi ships none, so a
// strict TypeScript app that imports it would get TS7016; importing fcgi-procmanager brings these in
// (dist/index.d.ts references this file).

declare module 'node-fastcgi' {
  import type * as http from 'node:http';
  import type * as net from 'node:net';
  import type { Readable, Writable } from 'node:stream';

  export interface ServerConfig {
    /** Connections served at once (FCGI_MAX_CONNS; default 2000). */
    maxConns?: number;
    /** Requests served at once (FCGI_MAX_REQS; default 2000). */
    maxReqs?: number;
    /** More than one request per connection (FCGI_MPXS_CONNS; default true). */
    multiplex?: boolean;
    /** Extra FCGI_GET_VALUES answers. */
    valueMap?: Record<string, string>;
  }

  /** A FastCGI request: node:http's IncomingMessage plus the CGI parameters and the FCGI_DATA stream. */
  export interface Request extends http.IncomingMessage {
    cgiParams: Record<string, string>;
    /** A filter request's FCGI_DATA stream (empty for the other roles). */
    data: Readable;
  }

  /** A FastCGI response: node:http's ServerResponse plus FCGI_STDERR. */
  export interface Response extends http.ServerResponse {
    stderr: Writable;
  }

  export interface AuthorizerResponse extends Response {
    setVariable(name: string, value: string): void;
    allow(): void;
    deny(): void;
  }

  /** A handler may return a promise: under fcgi-procmanager a rejection answers that request with a 500. */
  export type RequestListener = (req: Request, res: Response) => void | Promise<void>;
  export type AuthorizerListener = (req: Request, res: AuthorizerResponse) => void | Promise<void>;

  export class Server extends net.Server {
    constructor(
      responder?: RequestListener | ServerConfig,
      authorizer?: AuthorizerListener | ServerConfig,
      filter?: RequestListener | ServerConfig,
      config?: ServerConfig,
    );
    readonly config: Required<ServerConfig>;
    on(event: 'request' | 'filter', listener: RequestListener): this;
    on(event: 'authorize', listener: AuthorizerListener): this;
    on(event: 'protocolError', listener: (err: Error) => void): this;
    on(event: string | symbol, listener: (...args: any[]) => void): this;
  }

  export function createServer(
    responder?: RequestListener | ServerConfig,
    authorizer?: AuthorizerListener | ServerConfig,
    filter?: RequestListener | ServerConfig,
    config?: ServerConfig,
  ): Server;

  /** True when fd 0 is a socket (the process was started by a web server). */
  export function isService(): boolean;

  export const IncomingMessage: typeof http.IncomingMessage;
  export const OutgoingMessage: typeof http.OutgoingMessage;
}
