// Stopping a socket's reads at the libuv level, so that bytes stay in the kernel for whoever gets
// the socket's descriptor next (a kept connection passed between processes). Node has no public
// call for this: socket.pause() only stops delivery, and reading goes on into the stream's buffer,
// which is lost when the descriptor is sent. So this uses the socket's handle, checked at run time.

import type * as net from 'node:net';

interface ReadableHandle {
  readStop(): number;
}

function handleOf(socket: net.Socket): ReadableHandle | undefined {
  const handle = (socket as unknown as { _handle?: Partial<ReadableHandle> | null })._handle;
  return handle && typeof handle.readStop === 'function' ? (handle as ReadableHandle) : undefined;
}

/** A socket that stops its reads itself (HandleSocket). */
interface StopsReading {
  stopReading(): void;
}

function stopsReading(socket: net.Socket): socket is net.Socket & StopsReading {
  return typeof (socket as Partial<StopsReading>).stopReading === 'function';
}

/** True if `socket`'s reads can be stopped (it has a libuv handle with readStop). */
export function canStopReading(socket: net.Socket): boolean {
  return stopsReading(socket) || handleOf(socket) !== undefined;
}

/** Reads nothing more from `socket` into this process. */
export function stopReading(socket: net.Socket): void {
  if (stopsReading(socket)) socket.stopReading();
  else handleOf(socket)?.readStop();
}
