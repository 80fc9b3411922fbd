// Opening the files a parameter names, with errors that name the parameter and say what errno means.

import * as fs from 'node:fs';
import { describeErrno } from '../socket/listen';

/** "ENOENT (no such file or directory)" for a failed open(). */
export function describeFileError(err: unknown): string {
  const errno = (err as NodeJS.ErrnoException).errno;
  return typeof errno === 'number' ? describeErrno(errno) : String((err as Error).message ?? err);
}

/** Runs `open(file)`; a failure reads `<param> <file>: <errno>`. */
export function openOrThrow<T>(param: string, file: string | undefined, open: (file: string) => T): T {
  try {
    return open(file as string);
  } catch (err) {
    throw new Error(`${param} ${file}: ${describeFileError(err)}`);
  }
}

/** Refuses, before anything forks, a file the workers will not be able to open (and creates it). */
export function checkAppendable(param: string, file: string): void {
  openOrThrow(param, file, (f) => fs.closeSync(fs.openSync(f, 'a')));
}
