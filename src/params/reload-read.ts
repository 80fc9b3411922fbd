// A reload's first step: reads the configuration source again and checks it as a start would (the
// check pass, src/preflight.ts), then works out what changes: the values that apply in place over the
// running ones, those that need a restart, and whether the workers' variables changed (an env_file
// edited, though its name did not). Nothing is applied here.

import { isDeepStrictEqual } from 'node:util';
import { preflight, type StartPlan } from '../preflight';
import { type ParameterChange, configurationChanges } from './reload-plan';
import { type ProcManagerParams, type ResolvedParams, resolveParams, validateParams } from './index';

export interface NewConfiguration {
  /** The running parameters with the applicable new values over them. */
  params: ResolvedParams & { [key: string]: unknown };
  /** Their start plan (pool sizing, the workers' variables). */
  plan: StartPlan;
  applied: ParameterChange[];
  needsRestart: ParameterChange[];
  /** The workers' variables differ from the running ones. */
  envChanged: boolean;
}

/** Throws with one line when the configuration cannot be read or does not validate. */
export async function readNewConfiguration(
  read: () => Promise<ProcManagerParams>,
  running: ResolvedParams & { [key: string]: unknown },
  runningEnv: Readonly<Record<string, string>>,
): Promise<NewConfiguration> {
  const next = resolveParams(validateParams(await read()));
  preflight(next, { check: true }); // the file as a start would take it
  const { applied, needsRestart } = configurationChanges(running, next);
  const params = { ...running };
  for (const { name, to } of applied) (params as Record<string, unknown>)[name] = to;
  // What will run, the new values over the running ones; files it will write are made for the
  // workers' user, as at a start.
  const plan = preflight(params);
  return { params, plan, applied, needsRestart, envChanged: !isDeepStrictEqual(plan.workerEnv, runningEnv) };
}
