// Perl's functional interface: each pm_* function acts on one default instance, created on first use
// from ProcManager.Default (Perl's self_or_default and $FCGI::ProcManager::Default).

import type * as net from 'node:net';
import type { ProcManagerParams } from './params';
import { type AttachOptions, ProcManager } from './proc-manager';

let defaultInstance: ProcManager | undefined;

/** The instance the pm_* functions act on. */
export function defaultProcManager(): ProcManager {
  return (defaultInstance ??= new ProcManager.Default());
}

export const pm_manage = (params?: ProcManagerParams) => defaultProcManager().manage(params);
export const pm_die = (msg?: string, status?: number) => defaultProcManager().die(msg, status);
export const pm_wait = () => defaultProcManager().wait();
export const pm_write_pid_file = (fname?: string) => defaultProcManager().writePidFile(fname);
export const pm_remove_pid_file = (fname?: string) => defaultProcManager().removePidFile(fname);
export const pm_pre_dispatch = () => defaultProcManager().preDispatch();
export const pm_post_dispatch = () => defaultProcManager().postDispatch();
export const pm_attach = (server: net.Server, options?: AttachOptions) => defaultProcManager().attach(server, options);
export const pm_change_process_name = (name: string) => defaultProcManager().changeProcessName(name);
export function pm_received_signal(): Record<string, number>;
export function pm_received_signal(sig: string, received?: boolean): number;
export function pm_received_signal(sig?: string, received?: boolean): Record<string, number> | number {
  return sig === undefined ? defaultProcManager().receivedSignal() : defaultProcManager().receivedSignal(sig, received);
}
export const pm_parameter = (key: string, value?: unknown) => defaultProcManager().parameter(key, value);
export const pm_warn = (msg: string) => defaultProcManager().warn(msg);
export const pm_notify = (msg: string) => defaultProcManager().notify(msg);
export const pm_exit = (msg?: string, status?: number) => defaultProcManager().exit(msg, status);
export const pm_abort = (msg?: string, status?: number) => defaultProcManager().abort(msg, status);
