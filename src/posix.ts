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

const CALLS: readonly (keyof PosixCalls)[] = ['getsockopt', 'listen', 'fcntlGetFlags', 'fcntlSetFlags'];

let loaded: PosixCalls | null | undefined;

export function optionalPosix(): PosixCalls | null {
  if (loaded === undefined) {
    loaded = null;
    if (process.env.FCGI_PM_NO_POSIX !== '1') {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const module = require('posix-node') as Partial<Record<keyof PosixCalls, unknown>>;
        // posix-node catches a failure to load its addon (Node's --permission refuses addons) and
        // exports none of its calls: then it is as absent.
        if (CALLS.every((call) => typeof module[call] === 'function')) loaded = module as PosixCalls;
      } catch {
        loaded = null;
      }
    }
  }
  return loaded;
}
