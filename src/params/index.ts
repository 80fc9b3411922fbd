// The parameters of a ProcManager, derived from their table (./table.ts): the public types, the
// validation of each value, the defaults, and the names other managers use. Pure: no process I/O.

import { PARAMETERS, type ParameterSpec } from './table';
import { describe, type ValueType } from './value-types';

export { PARAMETERS, SECTIONS, type ParameterSpec, type Section } from './table';
export { byteSize, type ListenSpec, type ProcessManagerMode, type Role } from './value-types';
export { checkParamCombinations, isLoopbackHost } from './combinations';

type Table = typeof PARAMETERS;
export type ParamName = keyof Table;

type InputOf<S> = S extends { type: ValueType<infer In, unknown> } ? In : never;
type OutputOf<S> = S extends { type: ValueType<unknown, infer Out> } ? Out : never;

/**
 * Constructor and `manage()` parameters, with FCGI::ProcManager's names; docs/configuration.md
 * describes each. Numbers and booleans may also be given as strings, because values often come from
 * the environment (`process.env.WORKERS`).
 */
export type ProcManagerParams = { -readonly [K in ParamName]?: InputOf<Table[K]> };

/** Every parameter once checked, with its default where it has one. */
export type ResolvedParams = {
  -readonly [K in ParamName]: Table[K] extends { default: unknown } ? OutputOf<Table[K]> : OutputOf<Table[K]> | undefined;
};

/** The parameters a user may set in fcgi-pm's flags and config file: all but the library-only ones. */
export type ConfigurableName = { [K in ParamName]: Table[K] extends { notConfigurable: string } ? never : K }[ParamName];

/** What fcgi-pm runs with: every configurable parameter, checked, over its default. */
export type Configuration = Pick<ResolvedParams, ConfigurableName>;

/** Parameters as given, each checked; keys that are not parameters are kept, as Perl's pm_parameter keeps anything. */
export type GivenParams = Partial<ResolvedParams> & { [key: string]: unknown };

/** The table's entries, typed loosely, for the code that goes over all of them. */
export const PARAMETER_LIST: readonly (ParameterSpec<unknown, unknown> & { name: ParamName })[] = (Object.keys(PARAMETERS) as ParamName[]).map(
  (name) => ({ name, ...(PARAMETERS[name] as ParameterSpec<unknown, unknown>) }),
);

export const KNOWN_PARAMS: readonly ParamName[] = PARAMETER_LIST.map((p) => p.name);

export function isParamName(key: string): key is ParamName {
  return Object.hasOwn(PARAMETERS, key);
}

export function isConfigurable(key: string): key is ConfigurableName {
  return isParamName(key) && (PARAMETERS[key] as ParameterSpec<unknown, unknown>).notConfigurable === undefined;
}

/** The defaults, as the table gives them. */
export const DEFAULT_PARAMS: Readonly<Partial<ResolvedParams>> = Object.fromEntries(
  PARAMETER_LIST.filter((p) => p.default !== undefined).map((p) => [p.name, p.default]),
);

/** The process title of a worker. */
export const WORKER_TITLE = 'node-fcgi';

/**
 * Returns the normalized value of one parameter, or throws a TypeError/RangeError naming it.
 * Unknown keys are kept as they are (Perl's pm_parameter stores anything), unless the key looks
 * like a typo of a known one: then the error suggests the right name.
 */
export function validateParameter(key: string, value: unknown): unknown {
  if (isParamName(key)) return PARAMETERS[key].type.validate(value, key);
  const suggestion = likelyMeant(key);
  if (suggestion) throw new TypeError(`unknown parameter '${key}' (did you mean '${suggestion}'?)`);
  return value;
}

/** Validates a whole parameter object; returns the normalized copy, without the keys left undefined. */
export function validateParams(params: object | undefined): GivenParams {
  if (params === undefined || params === null) return {};
  if (typeof params !== 'object' || Array.isArray(params)) {
    throw new TypeError(`parameters must be an object, got ${describe(params)}`);
  }
  const out: GivenParams = {};
  for (const [key, value] of Object.entries(params)) {
    // undefined means "not given", so the default stays (handy for optional environment variables)
    if (value !== undefined) out[key] = validateParameter(key, value);
  }
  return out;
}

/** Checked parameters over the defaults. */
export function resolveParams(given: GivenParams): ResolvedParams & { [key: string]: unknown } {
  // The one place where the table's defaults meet its types: DEFAULT_PARAMS holds a value of the
  // right type for each parameter with a default (test/unit/params.test.js checks each against its type).
  return { ...(DEFAULT_PARAMS as ResolvedParams), ...given };
}

/** The variable paramsFromEnv() reads for `name`, or undefined for none. */
export function envName(name: ParamName): string | undefined {
  const { env } = PARAMETERS[name] as ParameterSpec<unknown, unknown>;
  return env === false ? undefined : (env ?? `PM_${name.toUpperCase()}`);
}

/**
 * `earlier` with `later` over it (a config file, then the flags; a flag, then the same flag again):
 * a later value replaces an earlier one, but where the parameter's kind merges (`env`), the two add up,
 * the later winning name by name.
 */
export function laterParams(earlier: GivenParams, later: GivenParams): GivenParams {
  const merged: Record<string, unknown> = { ...earlier, ...later };
  for (const [name, value] of Object.entries(later)) {
    const before = (earlier as Record<string, unknown>)[name];
    if (PARAMETERS[name as ParamName]?.type.merges && before !== undefined) merged[name] = { ...(before as object), ...(value as object) };
  }
  return merged as GivenParams;
}

/**
 * The parameters set in `env` (default: process.env), each read from its variable (`PM_N_PROCESSES`,
 * `PM_PID_FILE`, `FCGI_LISTEN`; see docs/configuration.md); empty ones count as unset. Not checked
 * here: the constructor checks them, naming the parameter.
 */
export function paramsFromEnv(env: NodeJS.ProcessEnv = process.env): ProcManagerParams {
  const params: Record<string, string> = {};
  for (const name of KNOWN_PARAMS) {
    const variable = envName(name);
    const value = variable === undefined ? undefined : env[variable];
    if (value !== undefined && value !== '') params[name] = value;
  }
  return params;
}

/** Other managers' names for ours, from the table. */
const OTHER_MANAGERS_NAMES: ReadonlyMap<string, ParamName> = new Map(
  PARAMETER_LIST.flatMap((p) => (p.otherNames ?? []).map((other) => [other, p.name] as const)),
);

/** The known parameter that `key` most likely misspells, or that another manager calls `key`, if any. */
export function likelyMeant(key: string): ParamName | undefined {
  const normalized = key.toLowerCase().replace(/[-.]/g, '_');
  const alias = OTHER_MANAGERS_NAMES.get(normalized);
  if (alias) return alias;
  let best: { name: ParamName; distance: number } | undefined;
  for (const name of KNOWN_PARAMS) {
    const distance = normalized === name ? 0 : editDistance(normalized, name);
    if (distance <= 2 && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}
