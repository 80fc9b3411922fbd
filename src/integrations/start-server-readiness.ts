// start_server's readiness channel follows the pool's lifecycle: STARTING=1 when the pool starts,
// READY=1 once every worker accepts (start-server/ready.ts has the protocol). The pool knows nothing
// of start_server; it only emits its events.

import type { WorkerPool } from '../pool/pool';
import { readinessReporter } from '../start-server/ready';

export function reportReadinessToStartServer(pool: WorkerPool): void {
  const readiness = readinessReporter();
  pool.on('starting', () => readiness.starting());
  pool.on('ready', () => readiness.ready());
}
