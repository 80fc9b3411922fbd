// The pool's decisions, apart from process I/O so that each rule is unit-tested in milliseconds:
// which workers to start and which to retire, given what every worker is doing (gunicorn's
// manage_workers and PHP-FPM's maintenance, as one reconcile step). A rolling reload, a recycle and
// a crash all come down to it: the pool wants `workers` accepting workers of `generation`, and never
// more than `workers + surge` processes alive, counting those still draining.

/** A worker's state, as the manager sees it. */
export type WorkerState =
  /** forked, not accepting yet */
  | 'starting'
  /** its server accepts on the manager's socket */
  | 'accepting'
  /** asked to stop (TERM): finishes its requests in flight, then exits */
  | 'retiring'
  /** its IPC channel is gone; the exit is on its way */
  | 'exiting';

/** What the plan needs to know of one worker. */
export interface WorkerView {
  pid: number;
  /** Its slot number: the lowest free one when it was forked. */
  slot: number;
  generation: number;
  state: WorkerState;
  /** It asked to be replaced (max_requests, max_memory). */
  recycle: boolean;
  /** It has accepted for reload_warmup: it has run its code long enough to be fast. */
  warm: boolean;
  /** When it was forked (ms): the oldest are retired first. */
  forkedAt: number;
}

export interface PoolTarget {
  /** n_processes, as TTIN and TTOU have moved it */
  workers: number;
  /** reload_surge: processes allowed beyond `workers` while replacements start */
  surge: number;
  /** The generation the pool is moving to (a HUP makes a new one). */
  generation: number;
}

export interface PoolPlan {
  /** How many workers of the target generation to fork now. */
  spawn: number;
  /** Workers to TERM now, oldest first. */
  retire: number[];
}

const isLive = (w: WorkerView) => w.state === 'starting' || w.state === 'accepting';
/** Warm before cold, then the newer generation, then the newer process. */
const mostUsefulFirst = (a: WorkerView, b: WorkerView) =>
  Number(b.warm) - Number(a.warm) || b.generation - a.generation || b.forkedAt - a.forkedAt;

/** Live workers that are to be replaced: an older generation, or asking to be recycled. */
function isReplaceable(w: WorkerView, target: PoolTarget): boolean {
  return w.generation < target.generation || w.recycle;
}

export function planPool(workers: readonly WorkerView[], target: PoolTarget): PoolPlan {
  const live = workers.filter(isLive);
  const replaceable = live.filter((w) => isReplaceable(w, target));
  const fresh = live.filter((w) => !isReplaceable(w, target));
  const freshReady = fresh.filter(isReady).length;

  // An older worker that never accepted has served nothing: it goes at once.
  const unready = replaceable.filter((w) => w.state === 'starting');
  // One serving old worker retires for each fresh one that is ready (accepting, and warm), so the
  // warm old workers carry the load while the new ones warm up. Those kept are the most useful: warm
  // before cold, then the newest code.
  const serving = replaceable.filter((w) => w.state === 'accepting').sort(mostUsefulFirst);
  const keep = Math.max(0, target.workers - freshReady);
  const retireServing = serving.slice(keep);
  // More fresh workers than wanted (TTOU, or after an abandoned reload): unready ones go first, then
  // the highest slots, so the pool shrinks from the top as gunicorn's and Puma's do.
  const excess = Math.max(0, fresh.length - target.workers);
  const surplus = [...fresh].sort((a, b) => rank(a) - rank(b) || b.slot - a.slot || b.forkedAt - a.forkedAt).slice(0, excess);

  const roomLeft = target.workers + target.surge - workers.length; // every process not yet reaped counts
  const wanted = Math.max(0, target.workers - fresh.length);
  // A newer HUP while the last reload's workers still warm up: with no room for the newest
  // generation, older workers that are not warm yet make room (they carry little of the load).
  // Processes already on their way out make room once reaped: nobody more is retired for it (else
  // a second step would retire the cold workers that serve while the unready ones exit).
  const cold = serving.slice(0, keep).filter((w) => !w.warm).reverse(); // the least useful first
  const leaving = workers.length - live.length;
  const makeRoom = cold.slice(0, Math.max(0, wanted - Math.max(0, roomLeft) - unready.length - leaving));
  const spawn = Math.max(0, Math.min(wanted, roomLeft));
  return { spawn, retire: [...unready, ...retireServing, ...makeRoom, ...surplus].map((w) => w.pid) };
}

/** Accepting, and warm: it may take over from a worker it replaces. */
function isReady(w: WorkerView): boolean {
  return w.state === 'accepting' && w.warm;
}

/** Unready workers are given up before accepting ones. */
function rank(w: WorkerView): number {
  return w.state === 'starting' ? 0 : 1;
}

/** A reload is done when the target generation's workers are all ready and no older one still serves. */
export function reloadComplete(workers: readonly WorkerView[], target: PoolTarget): boolean {
  const live = workers.filter(isLive);
  const freshReady = live.filter((w) => !isReplaceable(w, target) && isReady(w)).length;
  return freshReady >= target.workers && live.every((w) => !isReplaceable(w, target) || w.state !== 'accepting');
}

/** The pool's own state (PHP-FPM's normal / reloading / terminating), and what moves it. */
export type PoolState = 'running' | 'reloading' | 'stopping';
export type PoolEvent = 'reload' | 'reload-complete' | 'reload-abandoned' | 'stop';

/** The state after `event`, or undefined where the event is ignored in that state. */
export function nextPoolState(state: PoolState, event: PoolEvent): PoolState | undefined {
  if (state === 'stopping') return undefined; // nothing leaves stopping: the process exits
  switch (event) {
    case 'stop':
      return 'stopping';
    case 'reload':
      return 'reloading'; // from running, or again from reloading (a newer generation)
    case 'reload-complete':
    case 'reload-abandoned':
      return state === 'reloading' ? 'running' : undefined;
  }
}

/** TTIN and TTOU: one more worker, or one fewer but never fewer than one. */
export function resizedWorkers(workers: number, signal: 'TTIN' | 'TTOU'): number {
  return signal === 'TTIN' ? workers + 1 : Math.max(1, workers - 1);
}

/** New workers are forked except while stopping (PHP-FPM's fpm_pctl_can_spawn_children). */
export function canSpawn(state: PoolState): boolean {
  return state !== 'stopping';
}
