// runApp(): runs an unchanged node-fastcgi app under a pool of workers, as `fcgi-pm app.js` does.
//
// The calling process becomes the manager: it never loads the app. Each worker runs the app as its
// main module (cluster's `exec`), after a preload (worker-preload.ts) that sets up the worker's
// ProcManager, so the app's own `server.listen()` is attached to the manager's socket.

import cluster from 'node:cluster';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Configuration, ProcManagerParams } from '../params';
import { ProcManager } from '../proc-manager';
import { checkConfigParams, effectiveParams } from './config';
import { UsageError } from './command-line';
import { APP_PARAMS_ENV, encodeWorkerParams } from './worker-params';

export interface RunAppOptions extends Omit<ProcManagerParams, 'role'> {
  /** The app's main module: a file, or a directory with a package.json `main`. */
  app: string;
  /** The app's arguments (its process.argv.slice(2)). */
  args?: string[];
}

/** What runApp will run: validated and resolved, nothing opened. */
export interface AppPlan {
  /** The app's main module, absolute. */
  app: string;
  args: string[];
  /** The ProcManager parameters, validated, defaults filled in. */
  params: Configuration;
}

/** The worker count when none is given, as `pm2 -i max` and node:cluster's examples choose. */
export function defaultProcesses(): number {
  return os.availableParallelism();
}

const PRELOAD = path.join(__dirname, 'worker-preload.js');

/** Validates `options` and finds the app's file. Throws UsageError. Reads the file system only. */
export function planApp(options: RunAppOptions): AppPlan {
  const { app, args = [], ...given } = options;
  if (typeof app !== 'string' || app === '') throw new UsageError('no app given');
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw new UsageError('args must be an array of strings');
  const params = effectiveParams({}, checkConfigParams(given, 'runApp'), defaultProcesses());
  if (params.n_processes === 0) {
    throw new UsageError('n_processes must be at least 1: fcgi-pm runs the app in its workers only (run `node app.js` to serve from one process)');
  }
  return { app: resolveApp(app), args: [...args], params };
}

/** The app's main module, found as `node app` would find it, without loading it. */
function resolveApp(app: string): string {
  const absolute = path.resolve(app);
  try {
    return require.resolve(absolute);
  } catch {
    const why = fs.existsSync(absolute) ? 'is neither a script nor a package with a main module' : 'no such file';
    throw new UsageError(`app ${app}: ${why}`);
  }
}

/**
 * Becomes the manager of a pool of workers that each run `options.app`. Resolves never in the
 * manager (it ends through its signals); rejects before anything forks on bad options or a socket
 * that cannot be bound. With `reread`, each reload (HUP, `fcgi-pm reload`) takes the options it
 * returns (fcgi-pm: the --config file read again, under the flags); the app and its arguments stay.
 */
export async function runApp(options: RunAppOptions, reread?: () => Promise<RunAppOptions>): Promise<never> {
  if (cluster.isWorker) throw new Error('runApp: call it in the process that is to be the manager, not in a worker');
  const plan = planApp(options);
  process.env[APP_PARAMS_ENV] = encodeWorkerParams(plan.params);
  // Set before the first setupPrimary(), which freezes the policy: ProcManager's pool uses SCHED_NONE,
  // so that a server the app listens on itself (a metrics endpoint) is not routed through this process.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  // Merged with the pool's own setupPrimary() (its stdio) when manage() forks.
  cluster.setupPrimary({ exec: plan.app, args: plan.args, execArgv: [...process.execArgv, '--require', PRELOAD] });
  const pm = new ProcManager(plan.params);
  if (reread) {
    pm.setConfigurationSource({
      read: async () => planApp({ ...(await reread()), app: plan.app, args: plan.args }).params,
      // The workers forked from now on get the new values.
      applied: (params) => void (process.env[APP_PARAMS_ENV] = encodeWorkerParams(params)),
    });
  }
  await pm.manage();
  throw new Error('runApp: the manager returned from manage()'); // manage() resolves only in a worker
}
