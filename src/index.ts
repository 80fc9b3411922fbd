// fcgi-procmanager: a pre-forking FastCGI process manager, a port of Perl's FCGI::ProcManager.

/// <reference path="../types/node-fastcgi.d.ts" preserve="true" />

export { ProcManager, type AttachOptions } from './proc-manager';
export type { ProcManagerParams, ListenSpec, Role } from './params';
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
export { startServer, restartServer, stopServer, serverPorts, type StartServerOptions, type RestartServerOptions } from './start-server';
export { runApp, type RunAppOptions } from './cli';
