// The configuration of fcgi-pm: a config file (JSON, or a JS module that exports an object) keyed by
// ProcManager's parameter names, under the flags, over the defaults. Only loadConfigFile does I/O.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Configuration, type GivenParams, isConfigurable, KNOWN_PARAMS, laterParams, likelyMeant, resolveParams, validateParams } from '../params';
import { notConfigurableBecause } from './flags';
import { UsageError } from './command-line';

/** Reads a config file: `.json` is parsed; anything else is loaded as a module (CommonJS or ESM). */
export async function loadConfigFile(file: string): Promise<GivenParams> {
  return checkConfigParams(await readConfigFile(file), `--config ${file}`);
}

/** A config file's contents, unchecked. Throws UsageError when it cannot be read. */
export async function readConfigFile(file: string): Promise<unknown> {
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
  return loaded;
}

/** How many times config files were loaded: a reload imports an ES module anew under a new URL. */
let loads = 0;

async function loadModule(absolute: string): Promise<unknown> {
  delete require.cache[absolute]; // a reload reads the file as it is now
  try {
    return unwrapDefault(require(absolute));
  } catch (err) {
    // An ES module: import() it (require() of ESM is refused on Node 20).
    if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw err;
    return unwrapDefault(await import(`${pathToFileURL(absolute).href}?load=${++loads}`));
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
export function checkConfigParams(loaded: unknown, where: string): GivenParams {
  if (typeof loaded !== 'object' || loaded === null || Array.isArray(loaded)) {
    throw new UsageError(`${where}: must hold an object of parameters (${KNOWN_PARAMS.filter(isConfigurable).join(', ')})`);
  }
  const params: GivenParams = {};
  for (const [key, value] of Object.entries(loaded)) {
    if (!isConfigurable(key)) {
      const because = notConfigurableBecause(key);
      if (because) throw new UsageError(`${where}: ${because}`);
      const meant = likelyMeant(key);
      const hint = meant && isConfigurable(meant) ? ` (did you mean '${meant}'?)` : '';
      throw new UsageError(`${where}: unknown parameter '${key}'${hint}`);
    }
    try {
      Object.assign(params, validateParams({ [key]: value }));
    } catch (err) {
      throw new UsageError(`${where}: ${(err as Error).message}`);
    }
  }
  return params;
}

/** The parameters fcgi-pm runs with: its defaults, then the config file, then the flags. Pure. */
export function effectiveParams(fileParams: GivenParams, flagParams: GivenParams, defaultProcesses: number): Configuration {
  const { role: _role, ...params } = resolveParams({ n_processes: defaultProcesses, ...laterParams(fileParams, flagParams) });
  return params; // manage() sets role
}
