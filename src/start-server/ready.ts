// The program side of start_server's readiness channel (see parseReadinessLine in decisions.ts).
//
// start_server passes a pipe at the fd named by SERVER_STARTER_READY_FD. A ProcManager manager
// writes STARTING=1 when it starts its pool and READY=1 once every worker accepts, so start_server
// retires the old generation when the new one really serves, not merely after --interval. The
// variable is removed from the environment at once so the workers (and anything they run) never
// write to the pipe. Under Perl's start_server, or none, the variable is absent and this does nothing.

import * as fs from 'node:fs';

export const READY_FD_ENV = 'SERVER_STARTER_READY_FD';

export interface ReadinessReporter {
  /** The pool is starting: start_server should wait for ready() rather than for --interval. */
  starting(): void;
  /** Every worker accepts: start_server may retire the old generation. */
  ready(): void;
}

const silent: ReadinessReporter = { starting() {}, ready() {} };

/** Takes the channel start_server passed to this process, once; later calls get a silent reporter. */
export function readinessReporter(env: NodeJS.ProcessEnv = process.env): ReadinessReporter {
  const value = env[READY_FD_ENV];
  delete env[READY_FD_ENV];
  if (value === undefined || !/^\d+$/.test(value)) return silent;
  let fd: number | undefined = Number(value);
  const write = (line: string, close: boolean) => {
    if (fd === undefined) return;
    try {
      fs.writeSync(fd, `${line}\n`);
    } catch {
      // start_server is gone or does not listen: readiness is only a courtesy to it
    }
    if (close) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
      fd = undefined;
    }
  };
  return {
    starting: () => write('STARTING=1', false),
    ready: () => write('READY=1', true),
  };
}
