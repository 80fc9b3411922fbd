// A worker's side of a status request: it asks the manager for the pool's figures over the IPC
// channel and waits (bounded) for the answer.

import { type ManagerMessage, sendToManager } from '../pool/messages';
import type { PoolSnapshot } from './snapshot';

/** How long a status request waits for the manager. */
const ANSWER_TIMEOUT_MS = 2_000;

interface Pending {
  resolve(snapshot: PoolSnapshot): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class StatusClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  ask(): Promise<PoolSnapshot> {
    if (!process.send || !process.connected) return Promise.reject(new Error('no manager to ask'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the manager did not answer within ${ANSWER_TIMEOUT_MS} ms`));
      }, ANSWER_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      sendToManager({ act: 'fcgi-pm:status-request', id });
    });
  }

  /** The manager's answer to one of this worker's requests. */
  answered(message: Extract<ManagerMessage, { act: 'fcgi-pm:status' }>): void {
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    clearTimeout(waiting.timer);
    if (message.snapshot) waiting.resolve(message.snapshot as PoolSnapshot);
    else waiting.reject(new Error(message.error ?? 'no figures'));
  }
}
