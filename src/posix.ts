// posix-node, loaded only if it is installed: it supplies the few POSIX calls that Node lacks.
// Everything that uses it has a fallback, so the library works without it.
// FCGI_PM_NO_POSIX=1 makes the library behave as if it were absent (the tests use it).

/** The posix-node calls this library uses. */
export interface PosixCalls {
  getsockopt(fd: number, level: number, option: number, maxLength: number): Buffer;
  listen(fd: number, backlog: number): void;
  fcntlGetFlags(fd: number): number;
  fcntlSetFlags(fd: number, flags: number): void;
}

let loaded: PosixCalls | null | undefined;

export function optionalPosix(): PosixCalls | null {
  if (loaded === undefined) {
    loaded = null;
    if (process.env.FCGI_PM_NO_POSIX !== '1') {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        loaded = require('posix-node') as PosixCalls;
      } catch {
        loaded = null;
      }
    }
  }
  return loaded;
}
