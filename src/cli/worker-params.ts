// How the manager hands its parameters to the workers it forks: a JSON environment variable that
// the worker preload reads (and removes, so the app's own child processes do not see it). Pure.

import { type GivenParams, isConfigurable, validateParams } from '../params';

/** Set in each worker's environment by fcgi-pm's manager. */
export const APP_PARAMS_ENV = 'FCGI_PM_APP_PARAMS';

/** The configurable parameters of `params` (not the manager's role or logger). */
export function encodeWorkerParams(params: object): string {
  return JSON.stringify(Object.fromEntries(Object.entries(params).filter(([name]) => isConfigurable(name))));
}

/** The parameters, checked again on this side (each value's check accepts what it returned). */
export function decodeWorkerParams(text: string): GivenParams {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TypeError(`${APP_PARAMS_ENV} must hold a JSON object`);
  }
  return validateParams(parsed);
}
