// pm = dynamic: PHP-FPM's idle-server maintenance (fpm_pctl_perform_idle_server_maintenance), run
// once a second, as a pure decision. Above max_spare_servers idle workers, one idle worker retires
// (the oldest); below min_spare_servers, workers are started at a rate that doubles each round in a
// row (1, 2, 4 ... up to max_spawn_rate) and falls back to 1 once the pool has enough idle ones.

import { DEFAULT_PARAMS, type ResolvedParams } from '../params';

export interface DynamicLimits {
  /** pm.max_children: n_processes. */
  maxChildren: number;
  minSpare: number;
  maxSpare: number;
  maxSpawnRate: number;
}

export interface DynamicCounts {
  /** Workers accepting with no request in flight. */
  idle: number;
  /** Every worker that counts against max_children (starting ones too). */
  total: number;
  /** This round's spawn rate (1 in the first round). */
  spawnRate: number;
}

export interface DynamicDecision {
  spawn: number;
  /** Retire the oldest idle worker. */
  retireIdle: boolean;
  nextSpawnRate: number;
  /** More were wanted than max_children allows (counted, and logged once per episode). */
  reachedMaxChildren: boolean;
  /** PHP-FPM's "seems busy" warning, from a spawn rate of 8 on. */
  busyWarning: boolean;
}

export function dynamicMaintenance(limits: DynamicLimits, counts: DynamicCounts): DynamicDecision {
  const none = { spawn: 0, retireIdle: false, reachedMaxChildren: false, busyWarning: false };
  if (counts.idle > limits.maxSpare) return { ...none, retireIdle: true, nextSpawnRate: 1 };
  if (counts.idle >= limits.minSpare) return { ...none, nextSpawnRate: 1 };
  if (counts.total >= limits.maxChildren) return { ...none, reachedMaxChildren: true, nextSpawnRate: counts.spawnRate };
  const spawn = Math.max(0, Math.min(counts.spawnRate, limits.minSpare - counts.idle, limits.maxChildren - counts.total));
  return {
    spawn,
    retireIdle: false,
    reachedMaxChildren: false,
    busyWarning: counts.spawnRate >= 8,
    nextSpawnRate: Math.min(limits.maxSpawnRate, counts.spawnRate * 2),
  };
}

/** PHP-FPM's default start_servers: min_spare + (max_spare - min_spare) / 2. */
export function defaultStartServers(minSpare: number, maxSpare: number): number {
  return minSpare + Math.floor((maxSpare - minSpare) / 2);
}

/** The checks PHP-FPM makes of a dynamic pool's numbers; throws naming them. */
export function checkDynamicLimits(p: { maxChildren: number; startServers: number; minSpare: number; maxSpare: number }): void {
  const { maxChildren, startServers, minSpare, maxSpare } = p;
  if (!(maxChildren >= 1)) throw new RangeError(`pm = dynamic needs n_processes (pm.max_children) of at least 1, got ${maxChildren}`);
  if (!(minSpare >= 1)) throw new RangeError(`min_spare_servers (${minSpare}) must be at least 1 with pm = dynamic`);
  if (!(maxSpare >= 1)) throw new RangeError(`max_spare_servers (${maxSpare}) must be at least 1 with pm = dynamic`);
  if (minSpare > maxChildren || maxSpare > maxChildren) {
    throw new RangeError(`min_spare_servers (${minSpare}) and max_spare_servers (${maxSpare}) cannot be greater than n_processes (${maxChildren})`);
  }
  if (maxSpare < minSpare) throw new RangeError(`max_spare_servers (${maxSpare}) must not be less than min_spare_servers (${minSpare})`);
  if (startServers < minSpare || startServers > maxSpare) {
    throw new RangeError(`start_servers (${startServers}) must not be less than min_spare_servers (${minSpare}) and not greater than max_spare_servers (${maxSpare})`);
  }
}

export type PoolSizing =
  | { mode: 'static' }
  | { mode: 'dynamic'; startServers: number; limits: DynamicLimits }
  | { mode: 'ondemand'; maxChildren: number; idleTimeoutMs: number };

/**
 * pm = ondemand's round: workers idle longer than the timeout retire (oldest first, one per round, as
 * PHP-FPM's maintenance does); one more starts while connections wait in the backlog and the pool is
 * below its maximum. At rest the pool has no worker.
 */
export function ondemandMaintenance(
  o: { maxChildren: number; idleTimeoutMs: number },
  s: { now: number; total: number; idleSince: readonly (number | undefined)[]; queued: number },
): { spawn: number; retireIdleIndex: number | undefined } {
  let oldest: number | undefined;
  s.idleSince.forEach((since, i) => {
    if (since !== undefined && s.now - since >= o.idleTimeoutMs && (oldest === undefined || since < s.idleSince[oldest]!)) oldest = i;
  });
  if (oldest !== undefined && s.queued === 0) return { spawn: 0, retireIdleIndex: oldest };
  return { spawn: s.queued > 0 && s.total < o.maxChildren ? 1 : 0, retireIdleIndex: undefined };
}

/** The pool's sizing from its parameters (validated one by one already); throws on a bad combination. */
export function poolSizing(params: Pick<ResolvedParams, PoolParam>): PoolSizing {
  const maxChildren = params.n_processes;
  const dynamicOnly = (['start_servers', 'min_spare_servers', 'max_spare_servers'] as const).find((key) => params[key] !== undefined);
  if (params.pm !== 'dynamic' && dynamicOnly) throw new TypeError(`${dynamicOnly} is for pm = dynamic; this pool is pm = ${params.pm}`);
  // Only a value other than its default is refused: fcgi-pm passes every parameter, defaults included.
  if (params.pm !== 'ondemand' && params.process_idle_timeout !== DEFAULT_PARAMS.process_idle_timeout) {
    throw new TypeError(`process_idle_timeout is for pm = ondemand; this pool is pm = ${params.pm}`);
  }
  if (params.pm === 'ondemand') {
    if (!(maxChildren >= 1)) throw new RangeError(`pm = ondemand needs n_processes (pm.max_children) of at least 1, got ${maxChildren}`);
    return { mode: 'ondemand', maxChildren, idleTimeoutMs: params.process_idle_timeout * 1000 };
  }
  if (params.pm === 'static') return { mode: 'static' };
  const minSpare = params.min_spare_servers ?? 0; // 0: refused below, as missing
  const maxSpare = params.max_spare_servers ?? 0;
  const startServers = params.start_servers ?? defaultStartServers(minSpare, maxSpare);
  checkDynamicLimits({ maxChildren, startServers, minSpare, maxSpare });
  return { mode: 'dynamic', startServers, limits: { maxChildren, minSpare, maxSpare, maxSpawnRate: params.max_spawn_rate } };
}

type PoolParam = 'pm' | 'n_processes' | 'start_servers' | 'min_spare_servers' | 'max_spare_servers' | 'max_spawn_rate' | 'process_idle_timeout';
