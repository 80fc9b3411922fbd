// What the control socket's commands do to the pool: each is what the matching signal does (HUP,
// TERM, TTIN/TTOU), with an answer the signal cannot give: whether the reload came up, the exit status.

import { describeAbandoned, type WorkerPool } from '../pool/pool';
import type { PoolSnapshot } from '../status/snapshot';
import type { ControlTarget } from './server';

const ASKED = 'asked on the control socket';

export function poolControl(pool: WorkerPool, manager: { title: string; snapshot(): Promise<PoolSnapshot> }): ControlTarget {
  return {
    async answer(request) {
      switch (request.cmd) {
        case 'status':
          return { ok: true, cmd: 'status', manager: { pid: process.pid, title: manager.title }, pool: await manager.snapshot() };
        case 'reload': {
          const started = await pool.requestReload(`reload ${ASKED}`);
          if ('refused' in started) return { ok: false, error: `reload refused: ${started.refused}` };
          if (!request.wait) return { ok: true, cmd: 'reload', generation: started.generation, complete: false };
          const outcome = await pool.reloadOutcome(started.generation);
          if (outcome.complete) return { ok: true, cmd: 'reload', generation: outcome.generation, complete: true, seconds: outcome.seconds };
          return { ok: false, generation: outcome.serving, error: describeAbandoned(outcome) };
        }
        case 'scale': {
          const outcome = pool.scale(request.workers, `scale to ${request.workers} ${ASKED}`, { exact: true });
          if ('error' in outcome) return { ok: false, error: outcome.error };
          return { ok: true, cmd: 'scale', ...outcome };
        }
      }
    },
    stop() {
      pool.requestStop(`stop ${ASKED}`, `safe exit ${ASKED}`);
    },
  };
}
