// The workers' compile cache (Node 22.1+): V8's code for the modules a worker loads, kept on disk by
// the first worker that compiles them, so that the next ones (a reload, a recycle, a respawn) skip
// the compiling. One folder per manager, made at its start, given to the workers' user, removed at
// its exit. Node keys each entry by the module's source and its own version, so a release whose files
// changed is compiled anew, never served from another release's code.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isRunning } from './pid-file';

/** The variable that tells a worker's Node where the cache is (read by Node itself at start). */
export const COMPILE_CACHE_ENV = 'NODE_COMPILE_CACHE';
const PREFIX = 'fcgi-pm-compile-cache-';

export interface CompileCache {
  /** Added to each worker's environment. */
  env: Record<string, string>;
  /** The folder, for the log line. */
  dir: string;
}

/** Why there is no cache here, or undefined when this Node has one. */
export function compileCacheUnavailable(): string | undefined {
  const nodeModule = require('node:module') as { enableCompileCache?: unknown };
  return typeof nodeModule.enableCompileCache === 'function' ? undefined : `Node ${process.version} has no compile cache (22.1 and later have)`;
}

/**
 * Makes this manager's cache folder (owned by `owner`, the workers' user, when given), and removes it
 * when the process exits. A NODE_COMPILE_CACHE set by the user is left as it is: theirs wins.
 */
export function openCompileCache(owner?: { uid: number; gid: number }): CompileCache | undefined {
  if (process.env[COMPILE_CACHE_ENV] || compileCacheUnavailable()) return undefined;
  removeStaleFolders();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}${process.pid}-`));
  if (owner) fs.chownSync(dir, owner.uid, owner.gid);
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return { env: { [COMPILE_CACHE_ENV]: dir }, dir };
}

/**
 * In a worker that accepts: writes what it compiled to the cache now. Node writes it only at exit
 * otherwise, which is too late for the workers of the same reload.
 */
export function flushCompileCache(): void {
  if (!process.env[COMPILE_CACHE_ENV]) return;
  const nodeModule = require('node:module') as { flushCompileCache?: () => void };
  nodeModule.flushCompileCache?.();
}

/** Folders left by managers that were killed (their pid no longer runs). */
function removeStaleFolders(): void {
  let names: string[];
  try {
    names = fs.readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^fcgi-pm-compile-cache-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || isRunning(pid)) continue;
    fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
}
