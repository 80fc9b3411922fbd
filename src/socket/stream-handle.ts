// What the worker path needs of Node's internals to serve a connection on its libuv handle (a Pipe
// or a TCP handle) without a net.Socket on top: the handle's methods, and the write and shutdown
// request classes with the shared state array they report through. None of it is public API, so
// it is checked once, at run time; where anything is missing, connections go through net.Socket.
// Checked with Node 20.20 and 22.12.

import type * as net from 'node:net';

/** A libuv stream handle as Node's stream_wrap exposes it (the subset used here). */
export interface StreamHandle {
  onread: (this: StreamHandle, arrayBuffer: ArrayBuffer | undefined) => unknown;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteRequest, data: Buffer): number;
  writev(req: WriteRequest, chunks: Buffer[], allBuffers: true): number;
  shutdown(req: ShutdownRequest): number;
  close(callback?: () => void): void;
  ref(): void;
  unref(): void;
  readonly writeQueueSize: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  getpeername?(out: { address?: string; port?: number; family?: string }): number;
  setNoDelay?(enable: boolean): number;
  setKeepAlive?(enable: boolean, initialDelaySeconds: number): number;
}

export interface WriteRequest {
  handle: StreamHandle;
  oncomplete: (this: WriteRequest, status: number) => void;
  async: boolean;
  /** Kept alive until the kernel has it (an asynchronous write). */
  buffer: Buffer | Buffer[] | null;
}

export interface ShutdownRequest {
  handle: StreamHandle;
  oncomplete: (this: ShutdownRequest, status: number) => void;
}

export interface StreamInternals {
  WriteWrap: new () => WriteRequest;
  ShutdownWrap: new () => ShutdownRequest;
  /** Filled in by every read and write: bytes read or the error, the chunk's offset, was it async. */
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
  UV_EOF: number;
  /** The message and code of a libuv error number (ECONNRESET, EPIPE...). */
  errnoError(errno: number, syscall: string): NodeJS.ErrnoException;
}

/** Set to 1 to serve every connection through net.Socket, as if this Node lacked the internals. */
export const NO_RAW_HANDLE_ENV = 'FCGI_PM_NO_RAW_HANDLE';

let checked: StreamInternals | string | undefined;

/**
 * The internals, or why they cannot be used (the environment asked not to, or this Node lacks a
 * piece). Checked once per process.
 */
export function streamInternals(): StreamInternals | string {
  return (checked ??= loadStreamInternals());
}

function loadStreamInternals(): StreamInternals | string {
  if (process.env[NO_RAW_HANDLE_ENV] === '1') return `${NO_RAW_HANDLE_ENV}=1`;
  // process.binding warns (DEP0111) only under --pending-deprecation; with --throw-deprecation that
  // warning is thrown on a later tick, out of reach of any try, and the worker would die for it.
  if (pendingDeprecation()) return 'process.binding is deprecated under --pending-deprecation (DEP0111)';
  // Node's permission model refuses process.binding altogether (process.permission exists only under it).
  if ((process as { permission?: unknown }).permission) return "process.binding is refused under Node's permission model (--permission)";
  type Binding = (name: string) => Record<string, unknown>;
  const binding = (process as unknown as { binding?: Binding }).binding;
  if (typeof binding !== 'function') return 'process.binding is gone';
  let wrap: Record<string, unknown>;
  let uv: Record<string, unknown>;
  try {
    wrap = binding('stream_wrap');
    uv = binding('uv');
  } catch (err) {
    return `process.binding('stream_wrap') failed: ${(err as Error).message}`;
  }
  const { WriteWrap, ShutdownWrap, streamBaseState, kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync } = wrap;
  const { UV_EOF, errname } = uv;
  if (typeof WriteWrap !== 'function' || typeof ShutdownWrap !== 'function') return 'stream_wrap has no WriteWrap or ShutdownWrap';
  if (!(streamBaseState instanceof Int32Array)) return 'stream_wrap has no streamBaseState';
  for (const [name, value] of Object.entries({ kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync, UV_EOF })) {
    if (typeof value !== 'number') return `${name} is missing`;
  }
  const nameOf = typeof errname === 'function' ? (errname as (n: number) => string) : (n: number) => `errno ${n}`;
  return {
    WriteWrap: WriteWrap as StreamInternals['WriteWrap'],
    ShutdownWrap: ShutdownWrap as StreamInternals['ShutdownWrap'],
    state: streamBaseState,
    kReadBytesOrError: kReadBytesOrError as number,
    kArrayBufferOffset: kArrayBufferOffset as number,
    kLastWriteWasAsync: kLastWriteWasAsync as number,
    UV_EOF: UV_EOF as number,
    errnoError(errno, syscall) {
      const code = nameOf(errno);
      const err = new Error(`${syscall} ${code}`) as NodeJS.ErrnoException;
      err.errno = errno;
      err.code = code;
      err.syscall = syscall;
      return err;
    },
  };
}

/** A listening net.Server's handle, with the accept callback net set on it. */
export interface ListeningHandle {
  onconnection: (this: ListeningHandle, err: number, clientHandle: StreamHandle | undefined) => void;
}

/** The server's listening handle, if it has one of the expected shape. */
export function listeningHandleOf(server: net.Server): ListeningHandle | undefined {
  const handle = (server as unknown as { _handle?: Partial<ListeningHandle> | null })._handle;
  return handle && typeof handle.onconnection === 'function' ? (handle as ListeningHandle) : undefined;
}

/** Node's --pending-deprecation, as a flag (also in NODE_OPTIONS) or NODE_PENDING_DEPRECATION=1. */
function pendingDeprecation(): boolean {
  const flag = '--pending-deprecation';
  return process.execArgv.includes(flag) || (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(flag) || process.env.NODE_PENDING_DEPRECATION === '1';
}
