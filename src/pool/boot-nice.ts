// The pool's side of boot_nice (see os/boot-priority): which workers boot at the lower priority,
// and when each gets the manager's back: once it accepts, once the pool lacks a serving worker
// (a crash or a recycle during the boot: the booting one is needed now), or after
// BOOT_NICE_MAX_MS at the latest, so that an app with a long boot on a saturated machine still
// finishes within reload_timeout. A restore the kernel refuses turns boot_nice off, with one line.

import { getPriority } from 'node:os';
import { bootNiceValue, bootsAtLowPriority, setProcessNice } from '../os/boot-priority';
import type { WorkerHandle } from './worker-handle';

/** The longest a worker boots at the lower priority. */
export const BOOT_NICE_MAX_MS = 5_000;

export class BootNice {
  /** A restore was refused: boot_nice stays off, whatever a reload says. */
  private refused = false;

  /** boot_nice, or 0 once a restore has been refused. */
  constructor(private steps: number, private readonly warn: (msg: string) => void) {}

  /** boot_nice from a reloaded configuration (still 0 after a refused restore). */
  setSteps(steps: number): void {
    this.steps = this.refused ? 0 : steps;
  }

  /** Just forked: lowers its priority if the pool already has the workers it wants serving. */
  forked(handle: WorkerHandle, accepting: number, wanted: number): void {
    if (!bootsAtLowPriority(this.steps, accepting, wanted)) return;
    const nice = bootNiceValue(getPriority(), this.steps);
    if (setProcessNice(handle.pid, nice) !== 'set') return;
    handle.bootNice = nice;
    handle.bootNiceTimer = setTimeout(() => this.restore(handle), BOOT_NICE_MAX_MS).unref();
  }

  /** Gives it the manager's priority back (it accepts, the pool needs it, or its time is up). */
  restore(handle: WorkerHandle): void {
    if (handle.bootNice === undefined) return;
    handle.bootNice = undefined;
    clearTimeout(handle.bootNiceTimer);
    if (setProcessNice(handle.pid, getPriority()) === 'denied') {
      this.steps = 0;
      this.refused = true;
      this.warn(`boot_nice: server (pid ${handle.pid}) could not get its priority back (the kernel refused); boot_nice is off from now on`);
    }
  }

  /** The pool serves with fewer workers than it wants: every booting worker is needed at full speed. */
  shortOfWorkers(handles: Iterable<WorkerHandle>): void {
    for (const handle of handles) this.restore(handle);
  }

  /** It has exited. */
  exited(handle: WorkerHandle): void {
    clearTimeout(handle.bootNiceTimer);
    handle.bootNice = undefined;
  }
}
