// The thread of a SocketWatch (socket-watch.ts): while armed, it waits in poll(2) (posix-node's
// pollSocket) for the manager's listening socket to become readable, which means a connection
// waits to be accepted, and tells the main thread; then it disarms itself until armed again. It
// never accepts. A blocking poll in this thread costs the manager's event loop nothing.

import { parentPort, workerData } from 'node:worker_threads';

interface WatchData {
  fd: number;
  /** [0]: 1 while armed. */
  flag: Int32Array;
}

const POLLIN = 1;
const { fd, flag } = workerData as WatchData;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const posix = require('posix-node') as { pollSocket(fd: number, events: number, timeoutMs: number): void };

/**
 * Each wait is short, because the process cannot exit while a thread sits in a system call (exit
 * joins its threads). pollSocket says nothing of why it returned: one that returns well before its
 * timeout found the socket readable (if a connection came just at the timeout, the next poll
 * returns at once).
 */
const WAIT_MS = 250;

for (;;) {
  if (Atomics.load(flag, 0) === 0) {
    Atomics.wait(flag, 0, 0, WAIT_MS); // until armed
    continue;
  }
  const began = Date.now();
  posix.pollSocket(fd, POLLIN, WAIT_MS);
  if (Date.now() - began >= WAIT_MS - 10) continue; // timed out: poll again
  Atomics.store(flag, 0, 0);
  parentPort!.postMessage('connection waiting');
}
