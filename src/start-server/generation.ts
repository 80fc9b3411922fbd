// One generation: a run of the server program, with its readiness channel.
// It only records what happens to it and tells the superdaemon; the superdaemon decides.

import { spawn, type StdioOptions } from 'node:child_process';
import type { Readable } from 'node:stream';
import { parseReadinessLine } from './decisions';

export interface GenerationSpec {
  /** SERVER_STARTER_GENERATION. */
  generation: number;
  exec: readonly string[];
  dir: string | undefined;
  env: NodeJS.ProcessEnv;
  /** The program's fds: stdin/stdout/stderr, the sockets, 'pipe' at the readiness fd. */
  stdio: StdioOptions;
  readyFd: number;
}

export interface GenerationEvents {
  /** It exited, or its exec failed. */
  exited(gen: Generation): void;
  /** It wrote STARTING=1 or READY=1. */
  readinessChanged(gen: Generation): void;
  execFailed(gen: Generation, message: string): void;
}

export class Generation {
  readonly generation: number;
  readonly pid: number;
  readonly spawnedAt = Date.now();
  /** When it counted as up (ready, or alive after --interval). */
  upAt: number | undefined;
  /** 'starting' once it promised to report readiness, 'ready' once it did. */
  readiness: 'silent' | 'starting' | 'ready' = 'silent';
  exit: { code: number | null; signal: string | null } | undefined;
  /** signal_on_hup was sent to it. */
  retired = false;
  private readonly readyChannel: Readable | undefined;
  private killTimer: NodeJS.Timeout | undefined;

  constructor(spec: GenerationSpec, private readonly events: GenerationEvents) {
    this.generation = spec.generation;
    const [program, ...args] = spec.exec;
    const child = spawn(program!, args, { cwd: spec.dir, env: spec.env, stdio: spec.stdio });
    // No pid: the exec failed, and 'error' follows. A negative number keeps the maps apart.
    this.pid = child.pid ?? -spec.generation;
    child.on('exit', (code, signal) => this.onExit(code, signal));
    child.on('error', (err) => {
      if (child.pid !== undefined) return; // a failed kill(); the exit event still comes
      this.events.execFailed(this, `failed to exec ${program}: ${err.message}`);
      this.onExit(255, null); // what Perl's child exits with when exec fails
    });
    this.readyChannel = child.stdio[spec.readyFd] as Readable | undefined;
    this.listenForReadiness();
  }

  /** Sends `name` ('TERM', 'USR1', ...) unless it has exited. */
  signal(name: string): void {
    if (this.exit || this.pid < 0) return;
    try {
      process.kill(this.pid, `SIG${name}` as NodeJS.Signals);
    } catch {
      // already gone; its exit event is on its way
    }
  }

  /** Sends `name`, then KILL if it has not exited `graceMs` later. */
  stop(name: string, graceMs: number): void {
    this.signal(name);
    if (this.exit || this.killTimer) return;
    this.killTimer = setTimeout(() => this.signal('KILL'), graceMs);
  }

  /** Once it is up, nothing more is read from it. */
  closeReadyChannel(): void {
    this.readyChannel?.destroy();
  }

  private onExit(code: number | null, signal: string | null): void {
    if (this.exit) return;
    this.exit = { code, signal };
    clearTimeout(this.killTimer);
    this.closeReadyChannel();
    this.events.exited(this);
  }

  private listenForReadiness(): void {
    const channel = this.readyChannel;
    if (!channel) return;
    let pending = '';
    channel.setEncoding('utf8');
    channel.on('error', () => {});
    channel.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const state = parseReadinessLine(line);
        if (state === 'starting' && this.readiness === 'silent') this.readiness = 'starting';
        if (state === 'ready') this.readiness = 'ready';
      }
      this.events.readinessChanged(this);
    });
  }
}
