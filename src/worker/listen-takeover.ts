// In a worker, the manager's socket is the only one the pool serves. An application that still
// calls `server.listen(9010)` on its FastCGI server would split the pool (the manager's socket left
// unserved, another address served by the workers) and bind an address nobody asked the manager
// for. So in a worker the call is taken over: the server is attached to the manager's socket
// instead, and one line says so. Other servers (an HTTP metrics endpoint, say) listen as they ask.

import * as net from 'node:net';
import * as util from 'node:util';

let installed = false;

/**
 * Replaces net.Server#listen in this process: for a server that `isTakenOver` accepts, the call binds
 * nothing; `adopt` gets the server and the call's arguments as text (`9010`, `'/tmp/app.sock'`).
 * A listen callback is called once the server listens (at once if it already does), as net's own would be.
 */
export function takeOverListen(isTakenOver: (server: net.Server) => boolean, adopt: (server: net.Server, call: string) => void): void {
  if (installed) return;
  installed = true;
  const listen = net.Server.prototype.listen as (this: net.Server, ...args: unknown[]) => net.Server;
  net.Server.prototype.listen = function takenOverListen(this: net.Server, ...args: unknown[]): net.Server {
    if (!isTakenOver(this)) return listen.apply(this, args);
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      if (this.listening) process.nextTick(() => (callback as () => void).call(this));
      else this.once('listening', callback as () => void);
    }
    // node-fastcgi's listen() with no arguments passes process.stdin (fd 0): show what the app wrote.
    adopt(this, describeCall(args.filter((arg) => arg !== undefined && typeof arg !== 'function' && !isStdin(arg))));
    return this;
  } as typeof net.Server.prototype.listen;
}

/** A listen() call's arguments as the app wrote them: `9010`, `{ port: 3000, host: '0.0.0.0' }`. */
export function describeCall(args: readonly unknown[]): string {
  return args.map((arg) => util.inspect(withoutFunctions(arg), { breakLength: Infinity })).join(', ');
}

/** An options object as the app wrote its values: Fastify's `{ port, host, cb }` shows as `{ port, host }`. */
function withoutFunctions(arg: unknown): unknown {
  if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) return arg;
  return Object.fromEntries(Object.entries(arg).filter(([, value]) => typeof value !== 'function'));
}

/** True for process.stdin, without creating it when nothing has yet (its getter opens fd 0). */
function isStdin(arg: unknown): boolean {
  return typeof arg === 'object' && arg !== null && typeof (arg as { pipe?: unknown }).pipe === 'function' && arg === process.stdin;
}
