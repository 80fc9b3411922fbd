// How a process's exit is written in the log.

import * as os from 'node:os';

/**
 * Perl prints the raw wait status ($?): the exit code times 256, or the signal number. The same
 * number is kept so that log parsers keep working; a readable form follows it when it is not 0.
 */
export function describeExit(code: number | null, signal: string | null): string {
  if (signal) {
    const number = os.constants.signals[signal as keyof typeof os.constants.signals] ?? 0;
    return `${number} (signal ${signal.replace(/^SIG/, '')})`;
  }
  const exitCode = code ?? 0;
  return exitCode === 0 ? '0' : `${exitCode * 256} (exit code ${exitCode})`;
}
