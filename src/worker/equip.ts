// What a worker gets from its parameters beyond the lifecycle itself: listen_allowed_clients,
// status_path and ping_path (with the manager's answers over IPC), the slow log and the access log.

// Each feature's modules are loaded only when its parameter is set: a worker boots without the rest.

import { checkAppendable, openOrThrow } from '../os/files';
import type { ResolvedParams } from '../params';
import type { WorkerLifecycle } from './lifecycle';

export function equipWorker(lifecycle: WorkerLifecycle, params: ResolvedParams, warn: (msg: string) => void): void {
  const pool = params.pm_title;
  const allowed = params.listen_allowed_clients;
  if (allowed) lifecycle.allowedClients = new Set(allowed);
  if (params.status_path || params.ping_path) {
    const { StatusClient } = require('../status/client') as typeof import('../status/client');
    const { builtinResponder } = require('../status/responder') as typeof import('../status/responder');
    const status = (lifecycle.statusClient = new StatusClient());
    const paths = { statusPath: params.status_path, pingPath: params.ping_path, pingResponse: params.ping_response };
    lifecycle.builtin = builtinResponder(paths, () => status.ask());
  }
  if (params.request_slowlog_timeout > 0) {
    if (params.slowlog) checkAppendable('slowlog', params.slowlog);
    const { SlowLog } = require('./slowlog') as typeof import('./slowlog');
    lifecycle.slowlog = new SlowLog({ timeoutSeconds: params.request_slowlog_timeout, file: params.slowlog, pool, warn });
  }
  const accessLog = params.access_log;
  if (accessLog) {
    const { AccessLog } = require('./access-log') as typeof import('./access-log');
    lifecycle.accessLog = openOrThrow('access_log', accessLog, (file) => new AccessLog(file, params.access_format, pool));
  }
}
