// Loaded with `--require` in each worker that fcgi-pm forks, before the app's own code: it creates
// the worker's ProcManager with the manager's parameters and runs its worker side (signals, the
// takeover of a node-fastcgi server's listen(), uncaught exceptions). The app then runs as the main
// module, unchanged (`require.main === module` holds in it).

import cluster from 'node:cluster';
import * as net from 'node:net';
import * as path from 'node:path';
import { isNodeFastcgiServer } from '../fastcgi';
import { ProcManager } from '../proc-manager';
import { describeCall } from '../worker/listen-takeover';
import { APP_PARAMS_ENV, decodeWorkerParams } from './worker-params';

/** How long a worker may run without a FastCGI server calling listen() before it says so. */
const NO_LISTEN_WARNING_MS = 10_000;
/** Its exit status when the app's code ends without ever listening: nothing to serve is a failure. */
const NOTHING_TO_SERVE_STATUS = 1;

function setUpWorker(encoded: string): void {
  // Not for the app's own child processes: they inherit the environment and, with fork(), execArgv.
  delete process.env[APP_PARAMS_ENV];
  forgetPreload();
  const pm = new ProcManager(decodeWorkerParams(encoded));
  const listenBefore = net.Server.prototype.listen;
  pm.manage().catch((err: Error) => pm.abort(`fcgi-pm: worker set-up failed: ${err.message}`, 2));
  // manage() does a worker's set-up synchronously; if it ever deferred it, the app would bind its own address.
  if (net.Server.prototype.listen === listenBefore) pm.abort("fcgi-pm: the worker set-up did not take over listen() before the app's code", 2);
  watchFastcgiListen(pm);
}

/** Drops `--require <this file>` from process.execArgv, which child_process.fork() passes on. */
function forgetPreload(): void {
  const at = process.execArgv.findIndex((arg, i) => arg === '--require' && path.resolve(process.execArgv[i + 1] ?? '') === __filename);
  if (at >= 0) process.execArgv.splice(at, 2);
}

/**
 * Notes when a FastCGI server calls listen(), and makes an app that never does say so: at once if its
 * code ends without listening (the worker then exits 1, and the manager's crash-loop backoff applies),
 * and after NO_LISTEN_WARNING_MS while something else keeps it running.
 */
function watchFastcgiListen(pm: ProcManager): void {
  let listened = false;
  /** A server of another kind the app listened on (an HTTP app run by mistake), as its call reads. */
  let otherServer: string | undefined;
  const takenOver = net.Server.prototype.listen as (this: net.Server, ...args: unknown[]) => net.Server;
  net.Server.prototype.listen = function listenOfAFcgiPmWorker(this: net.Server, ...args: unknown[]): net.Server {
    if (isNodeFastcgiServer(this)) {
      if (!listened) process.channel?.ref();
      listened = true;
    } else {
      otherServer ??= `${this.constructor.name}.listen(${describeCall(args.filter((a) => typeof a !== 'function'))})`;
    }
    return takenOver.apply(this, args);
  } as typeof net.Server.prototype.listen;
  const app = path.basename(process.argv[1] ?? 'the app');
  // The IPC channel to the manager keeps a worker's event loop alive for good, so an app whose code
  // ran to its end without listening would idle unnoticed. Until a FastCGI server listens, the channel
  // does not count; then it counts again, as node:cluster has it.
  process.channel?.unref();
  process.once('beforeExit', () => {
    if (listened) return;
    const other = otherServer
      ? ` (it called ${otherServer}, which is not a FastCGI server: fcgi-pm serves node-fastcgi's, made with fcgi.createServer(handler); see the README's Frameworks)`
      : '';
    pm.abort(`fcgi-pm: ${app} ended without calling listen() on a FastCGI server: this worker has nothing to serve${other}`, NOTHING_TO_SERVE_STATUS);
  });
  setTimeout(() => {
    if (!listened) pm.warn(`fcgi-pm: no FastCGI server has called listen() ${NO_LISTEN_WARNING_MS / 1000} s after ${app} started; this worker serves nothing until one does`);
  }, NO_LISTEN_WARNING_MS).unref();
}

const encoded = process.env[APP_PARAMS_ENV];
if (cluster.isWorker && encoded !== undefined) setUpWorker(encoded);
