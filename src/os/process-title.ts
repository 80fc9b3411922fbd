// Process titles that tell the manager from its workers in ps(1) and pgrep(1).
//
// Node's process.title overwrites the process's original command line in place, so it is cut to that
// length: under `node a.js` (9 bytes) the manager's `node-fcgi-pm` shows as `node-fcgi`, like a worker.
// The kernel's own name for the process (/proc/PID/comm, 15 bytes, what `pgrep -x`, `ps -e` and
// `top` show) has no such limit below 15 bytes, so it is set too, in full.

import * as fs from 'node:fs';

/** The most /proc/PID/comm holds. */
const COMM_MAX_BYTES = 15;

export function setProcessTitle(title: string): void {
  process.title = title;
  if (process.platform !== 'linux') return;
  try {
    // After process.title: libuv also sets comm, to the cut title.
    fs.writeFileSync('/proc/self/comm', Buffer.from(title).subarray(0, COMM_MAX_BYTES));
  } catch {
    // not Linux's procfs, or read-only: the command line still carries what fitted
  }
}
