// The rules that join two parameters, checked once all are known (the defaults merged): run by the
// constructor, and by the check pass of a start and of --check-config (src/preflight.ts). Pure.

import { parseListenSpec } from '../socket/address';
import type { ResolvedParams } from './index';

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false; // every address
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Throws naming both parameters. */
export function checkParamCombinations(params: Partial<ResolvedParams>): void {
  if (params.logger && params.log_file) {
    throw new TypeError('logger and log_file exclude each other: a logger writes where it is configured to');
  }
  if (params.slowlog && !((params.request_slowlog_timeout ?? 0) > 0)) {
    throw new TypeError('slowlog needs request_slowlog_timeout: without it no request is ever slow');
  }
  if (params.status_path && params.status_path === params.ping_path) {
    throw new TypeError(`status_path and ping_path must differ, both are ${params.status_path}`);
  }
  if (params.status_listen !== undefined && !params.status_listen_public) {
    const address = parseListenSpec(params.status_listen);
    if (address.kind === 'tcp' && !isLoopbackHost(address.host)) {
      throw new TypeError(
        `status_listen ${String(params.status_listen)} is not a loopback address, and ?full shows every request's URI: ` +
          'use 127.0.0.1:PORT or a unix path, or set status_listen_public to serve it there',
      );
    }
  }
  if (params.logger && params.log_timestamps) {
    throw new TypeError('logger and log_timestamps exclude each other: a logger stamps its own lines');
  }
}
