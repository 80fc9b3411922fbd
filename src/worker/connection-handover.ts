// Kept connections outlive the worker that accepted them: a retiring worker hands each one, once it
// is idle, to the manager, which passes it to a worker that serves on (pool.ts).
//
// Why not close them: a web server that keeps FastCGI connections may send its next request on one
// at the moment the worker closes it, and then fails that request. nginx retries a GET and answers
// 502 to a POST; Apache's mod_proxy_fcgi retries nothing ("AH01075: Error dispatching request", a
// 503), and it reuses a connection within a millisecond of its last answer, so closing right behind
// that answer still loses requests. A connection handed over is never closed: whatever the web
// server sends next waits in the kernel's buffer for its new worker.

import type * as net from 'node:net';
import { sendToManagerWithHandle } from '../pool/messages';
import { HandleSocket } from '../socket/handle-socket';
import { canStopReading, stopReading } from '../socket/stop-reading';

/** True if `socket` can be handed over: this process has a manager, and the socket's reads can stop. */
export function canHandOver(socket: net.Socket): boolean {
  return Boolean(process.send && process.connected && canStopReading(socket));
}

/**
 * Sends `socket` to the manager. Nothing more is read from it here: bytes still in the kernel go
 * with it. `socket` is destroyed once sent (its descriptor then belongs to the message), which
 * counts it closed for the worker's own bookkeeping; if it cannot be sent, destroying it closes it.
 */
export function handOverToManager(socket: net.Socket): void {
  stopReading(socket);
  // A HandleSocket's handle goes under a net.Socket: net's hand-over keeps it until the manager has it.
  const passed = socket instanceof HandleSocket ? socket.handToNetSocket() : socket;
  if (!passed) return void socket.destroy();
  sendToManagerWithHandle({ act: 'fcgi-pm:hand-over' }, passed, () => {
    passed.destroy(); // closes nothing once sent: the handle went with the message
    socket.destroy();
  });
}
