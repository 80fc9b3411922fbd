// fcgi-procmanager: a pre-forking FastCGI process manager, a port of Perl's FCGI::ProcManager.

/// <reference path="../types/node-fastcgi.d.ts" preserve="true" />

export { ProcManager, type AttachOptions, type ConfigurationSource } from './proc-manager';
export { paramsFromEnv, type ProcManagerParams, type ListenSpec, type Role } from './params';
export {
  defaultProcManager,
  pm_abort,
  pm_attach,
  pm_change_process_name,
  pm_die,
  pm_exit,
  pm_manage,
  pm_notify,
  pm_parameter,
  pm_post_dispatch,
  pm_pre_dispatch,
  pm_received_signal,
  pm_remove_pid_file,
  pm_wait,
  pm_warn,
  pm_write_pid_file,
} from './functional';
export type { StartServerOptions, RestartServerOptions } from './start-server';
export type { RunAppOptions } from './cli';

// serverPorts is small, and socket/listen.ts loads it anyway.
export { serverPorts } from './start-server/ports';
// start_server and the CLI load on first use: a worker, which loads this file, boots without them.
const startServerModule = () => require('./start-server') as typeof import('./start-server');
export const startServer: typeof import('./start-server').startServer = (...args) => startServerModule().startServer(...args);
export const restartServer: typeof import('./start-server').restartServer = (...args) => startServerModule().restartServer(...args);
export const stopServer: typeof import('./start-server').stopServer = (...args) => startServerModule().stopServer(...args);
export const runApp: typeof import('./cli').runApp = (...args) => (require('./cli') as typeof import('./cli')).runApp(...args);
