// The manager's side of the workers' stdout and stderr when they come through its log: each pipe is
// cut into whole lines, so lines of two workers never mix mid-line, and the manager waits for the
// last lines of its last workers before it exits.

import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { LineSplitter } from './line-splitter';

/** `pid`: the worker that wrote them. */
export type WriteLines = (stream: 'stdout' | 'stderr', lines: readonly string[], pid: number) => void;

export class WorkerOutput {
  private readonly open = new Set<Readable>();

  constructor(private readonly writeLines: WriteLines) {}

  /** Takes one worker's pipes (node:cluster forked it with stdio 'pipe'). */
  take(pid: number, stdout: Readable | null, stderr: Readable | null): void {
    if (stdout) this.follow(pid, stdout, 'stdout');
    if (stderr) this.follow(pid, stderr, 'stderr');
  }

  /** Resolves once every pipe has ended, or after `timeoutMs` (a worker's child may hold one open). */
  async drained(timeoutMs: number): Promise<void> {
    if (this.open.size === 0) return;
    const ac = new AbortController();
    const all = Promise.all([...this.open].map((s) => once(s, 'close', { signal: ac.signal }).catch(() => {})));
    await Promise.race([all, sleep(timeoutMs, undefined, { ref: false })]);
    ac.abort();
  }

  private follow(pid: number, pipe: Readable, stream: 'stdout' | 'stderr'): void {
    const splitter = new LineSplitter();
    this.open.add(pipe);
    pipe.on('data', (chunk: Buffer) => this.writeLines(stream, splitter.push(chunk), pid));
    pipe.on('error', () => {}); // a worker killed mid-write: its pipe ends, nothing to report
    pipe.once('close', () => {
      const rest = splitter.end();
      if (rest !== undefined) this.writeLines(stream, [rest], pid);
      this.open.delete(pipe);
    });
  }
}
