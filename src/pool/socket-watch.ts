// pm = ondemand: the manager learns that a connection waits on its listening socket, without
// accepting it (the workers accept). Node has no way to watch a socket for readability without
// accepting on it, so a thread waits in poll(2) through posix-node; without posix-node, ondemand is
// refused (availability is checked before anything forks).

import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { optionalPosix } from '../posix';

export function canWatchSockets(): boolean {
  const posix = optionalPosix() as { pollSocket?: unknown } | null;
  return typeof posix?.pollSocket === 'function';
}

export class SocketWatch {
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private readonly thread: Worker;

  constructor(fd: number, onConnectionWaiting: () => void, onError: (err: Error) => void) {
    this.thread = new Worker(path.join(__dirname, 'socket-watch-thread.js'), { workerData: { fd, flag: this.flag }, execArgv: [] });
    this.thread.unref();
    this.thread.on('message', () => onConnectionWaiting());
    this.thread.on('error', onError);
  }

  /** Wakes the manager (once) at the next connection that waits, or at once if one waits now. */
  arm(): void {
    if (Atomics.compareExchange(this.flag, 0, 0, 1) === 0) Atomics.notify(this.flag, 0);
  }
}
