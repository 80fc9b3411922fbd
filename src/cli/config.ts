// The configuration of fcgi-pm: a config file (JSON, or a JS module that exports an object) keyed by
// ProcManager's parameter names, under the flags, over the defaults. Only loadConfigFile does I/O.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_PARAMS, KNOWN_PARAMS, likelyMeant, validateParameter } from '../params';
import { isConfigurable, NOT_CONFIGURABLE_BECAUSE } from './flags';
import { UsageError } from './options';

/** Reads a config file: `.json` is parsed; anything else is loaded as a module (CommonJS or ESM). */
export async function loadConfigFile(file: string): Promise<Record<string, unknown>> {
  const where = `--config ${file}`;
  const absolute = path.resolve(file);
  let loaded: unknown;
  try {
    if (absolute.endsWith('.json')) {
      loaded = JSON.parse(fs.readFileSync(absolute, 'utf8'));
    } else {
      loaded = await loadModule(absolute);
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`${where}: ${e.code === 'ENOENT' ? 'no such file' : (e.message ?? String(err)).split('\n')[0]}`);
  }
  return checkConfigParams(loaded, where);
}

async function loadModule(absolute: string): Promise<unknown> {
  try {
    return unwrapDefault(require(absolute));
  } catch (err) {
    // An ES module: import() it (require() of ESM is refused on Node 20).
    if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw err;
    return unwrapDefault(await import(pathToFileURL(absolute).href));
  }
}

function unwrapDefault(mod: unknown): unknown {
  const m = mod as { __esModule?: boolean; default?: unknown } | null;
  if (m && typeof m === 'object' && 'default' in m && (m.__esModule || Object.keys(m).length === 1)) return m.default;
  return mod;
}

/**
 * Checks what a config file holds: an object whose keys are parameter names a user may set, with
 * valid values. Returns the validated values. Pure.
 */
export function checkConfigParams(loaded: unknown, where: string): Record<string, unknown> {
  if (typeof loaded !== 'object' || loaded === null || Array.isArray(loaded)) {
    throw new UsageError(`${where}: must hold an object of parameters (${KNOWN_PARAMS.filter(isConfigurable).join(', ')})`);
  }
  const params: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(loaded)) {
    if (!isConfigurable(key)) {
      const because = NOT_CONFIGURABLE_BECAUSE[key];
      if (because) throw new UsageError(`${where}: ${because}`);
      const meant = likelyMeant(key);
      const hint = meant && isConfigurable(meant) ? ` (did you mean '${meant}'?)` : '';
      throw new UsageError(`${where}: unknown parameter '${key}'${hint}`);
    }
    if (value === undefined) continue;
    try {
      params[key] = validateParameter(key, value);
    } catch (err) {
      throw new UsageError(`${where}: ${(err as Error).message}`);
    }
  }
  return params;
}

/** The parameters fcgi-pm runs with: its defaults, then the config file, then the flags. Pure. */
export function effectiveParams(
  fileParams: Record<string, unknown>,
  flagParams: Record<string, unknown>,
  defaultProcesses: number,
): Record<string, unknown> {
  const { role: _role, ...defaults } = DEFAULT_PARAMS;
  return { ...defaults, n_processes: defaultProcesses, ...fileParams, ...flagParams };
}
