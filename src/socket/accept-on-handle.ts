// Accepting a server's connections as HandleSockets (handle-socket.ts) instead of net.Sockets. net
// calls the listening handle's onconnection with each accepted handle; that callback is replaced,
// on every 'listening', by one that makes a HandleSocket and emits 'connection' with it, as net's
// does with its socket. What net does besides (refusing past maxConnections, errors) stays net's.

import type * as net from 'node:net';
import { type ConnectionCounter, HandleSocket } from './handle-socket';
import { listeningHandleOf, type StreamInternals } from './stream-handle';

/**
 * From its next 'listening' on (or now, if it listens), `server` accepts HandleSockets. If this
 * Node's server lacks what that needs, `cannot` hears why, and net.Socket serves as before.
 */
export function acceptOnHandles(server: net.Server, internals: StreamInternals, cannot: (reason: string) => void): void {
  const counter = server as unknown as ConnectionCounter;
  const hook = (): void => {
    const listening = listeningHandleOf(server);
    if (!listening || typeof counter._connections !== 'number') {
      return cannot('the listening handle has no onconnection, or the server no _connections');
    }
    const netAccept = listening.onconnection;
    listening.onconnection = function acceptOnHandle(err, clientHandle) {
      if (err || !clientHandle || (server.maxConnections && counter._connections >= server.maxConnections)) {
        return netAccept.call(this, err, clientHandle);
      }
      server.emit('connection', new HandleSocket(clientHandle, internals, server)); // counts itself in _connections
    };
  };
  if (server.listening) hook();
  server.on('listening', hook);
}
