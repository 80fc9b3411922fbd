// What a reload makes of a changed configuration (a config file edited, then HUP): the parameters it
// can change in place apply from that reload on; the rest, the table's 'needs restart' (the listening
// address, the accounts, the pool's mode), keep their running values until a restart. Pure.

import { isDeepStrictEqual } from 'node:util';
import { type ConfigurableName, type Configuration, isConfigurable, KNOWN_PARAMS, PARAMETERS } from './index';

export interface ParameterChange {
  name: ConfigurableName;
  from: unknown;
  to: unknown;
}

export function configurationChanges(running: Configuration, next: Configuration): { applied: ParameterChange[]; needsRestart: ParameterChange[] } {
  const applied: ParameterChange[] = [];
  const needsRestart: ParameterChange[] = [];
  for (const name of KNOWN_PARAMS) {
    if (!isConfigurable(name)) continue;
    const from = running[name];
    const to = next[name];
    if (isDeepStrictEqual(from, to)) continue;
    (PARAMETERS[name].reload === 'applies' ? applied : needsRestart).push({ name, from, to });
  }
  return { applied, needsRestart };
}

/** A value as a log line shows it: `unset`, `4`, `"/run/app.sock"`, `{"A":"1"}`. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'unset';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
