// Puts the worker path under a server made by the application's own `require('node-fastcgi')`.
//
// node-fastcgi's Server attaches one private 'connection' listener that does all the protocol work
// (with fastcgi-stream underneath). That listener is swapped for FastCgiConnection; everything the
// application sees stays node-fastcgi's: the Server, its events and config, and its Response
// classes. The swap is checked against the node-fastcgi copy that made the server: another version
// than the one this was checked against, or a server of an unexpected shape, is left as it is, with
// one warning line. fastcgi-stream is no longer used on this path, so its version does not matter.

import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import { acceptOnHandles } from '../socket/accept-on-handle';
import { streamInternals } from '../socket/stream-handle';
import { FastCgiConnection, type FastCgiServer, ServerState } from './connection';
import { type ResponseClasses, withRequestStreams } from './request';

/** The node-fastcgi release whose Server shape, connection listener and Response classes this path
 * was checked against (package.json pins it). */
export const CHECKED_NODE_FASTCGI_VERSION = '2.0.0';

/** What attach() puts under a node-fastcgi server: the worker path, or node-fastcgi's own code. */
export type FastCgiPathChoice = 'worker-path' | 'as-is';
export const FASTCGI_PATH_CHOICES: readonly FastCgiPathChoice[] = ['worker-path', 'as-is'];

const installed = new WeakSet<net.Server>();
const warned = new Set<string>();

/**
 * Serves `server`'s connections with the worker path. Returns false, and leaves the server alone,
 * for a server that is not node-fastcgi's (silently: node:http needs nothing), and for a node-fastcgi
 * this path was not checked against (after one warning line through `warn`).
 */
export function applyWorkerPath(server: net.Server, warn: (msg: string) => void): boolean {
  if (installed.has(server)) return true;
  if (!isNodeFastcgiServer(server)) return false;
  const found = findNodeFastcgi(server);
  let reason = typeof found === 'string' ? found : undefined;
  if (typeof found !== 'string' && found.version !== CHECKED_NODE_FASTCGI_VERSION) {
    reason = `node-fastcgi ${found.version} (${found.dir}) is not ${CHECKED_NODE_FASTCGI_VERSION}, the version it was checked against`;
  }
  const original = server.listeners('connection').find((listener) => listener.name === 'connectionListener');
  if (!reason && !original) reason = "node-fastcgi's connection listener is not on this server";
  const warnOnce = (line: string): void => {
    if (warned.has(line)) return;
    warned.add(line);
    warn(line);
  };
  if (reason || typeof found === 'string') {
    warnOnce(`worker path not applied: ${reason}; serving with node-fastcgi as it is`);
    return false;
  }
  const state = new ServerState(server, withRequestStreams(found.classes));
  server.removeListener('connection', original as (...args: unknown[]) => void);
  // First, as node-fastcgi's was: other 'connection' listeners find the connection set up.
  server.prependListener('connection', (socket: net.Socket) => new FastCgiConnection(socket, state));
  // Connections on their libuv handles, without net.Socket (socket/handle-socket.ts), where this
  // Node has what that needs; else through net.Socket, after one line saying why.
  const internals = streamInternals();
  const publicPath = (why: string) => warnOnce(`connections served through net.Socket, not on their handles: ${why}`);
  if (typeof internals !== 'string') acceptOnHandles(server, internals, publicPath);
  else publicPath(internals);
  // FCGI_GET_VALUES reports FCGI_MAX_CONNS: make it true.
  if (!server.maxConnections) server.maxConnections = server.config.maxConns;
  installed.add(server);
  return true;
}

/** True for a server whose connections the worker path serves. */
export function hasWorkerPath(server: net.Server): boolean {
  return installed.has(server);
}

/** True for a server made by (some copy of) node-fastcgi's createServer. */
export function isNodeFastcgiServer(server: net.Server): server is FastCgiServer {
  const config = (server as Partial<FastCgiServer>).config;
  return typeof config === 'object' && config !== null && typeof config.valueMap === 'object' && 'multiplex' in config;
}

interface NodeFastcgiCopy {
  dir: string;
  version: string;
  classes: ResponseClasses;
}

/** The loaded node-fastcgi copy whose Server made `server` (an application may have its own copy). */
function findNodeFastcgi(server: FastCgiServer): NodeFastcgiCopy | string {
  const serverModuleSuffix = path.join('lib', 'server.js');
  for (const [id, mod] of Object.entries(require.cache)) {
    if (!mod || !id.endsWith(serverModuleSuffix)) continue;
    const Server = (mod.exports as { Server?: unknown } | undefined)?.Server;
    if (typeof Server !== 'function' || !(server instanceof Server)) continue;
    const dir = path.dirname(path.dirname(id));
    const pkg = readPackage(dir);
    if (pkg?.name !== 'node-fastcgi') continue;
    const responses = require.cache[path.join(dir, 'lib', 'response.js')]?.exports as Partial<ResponseClasses> | undefined;
    if (typeof responses?.Response !== 'function' || typeof responses.AuthorizerResponse !== 'function') {
      return `${dir} has no Response classes in lib/response.js`;
    }
    return { dir, version: String(pkg.version), classes: responses as ResponseClasses };
  }
  return 'the node-fastcgi module that made this server is not among the loaded modules';
}

function readPackage(dir: string): { name?: string; version?: string } | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
  } catch {
    return undefined;
  }
}
