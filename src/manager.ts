// The manager side: forks the workers with node:cluster, replaces those that exit, relays signals,
// and dies gracefully (TERM, then KILL after die_timeout).
//
// Signals arrive as events on the event loop, so no handler ever interrupts another: the signal
// table below is the whole of the manager's reaction to the outside world.

import cluster, { type Worker } from 'node:cluster';
import * as os from 'node:os';
import { RespawnBackoff } from './backoff';
import { WORKER_LISTEN_FD, WORKER_LISTEN_FD_ENV, type ManagerSocket } from './listen';
import { readinessReporter } from './start-server/ready';

/** What the manager side needs from its ProcManager. */
export interface ManagerHost {
  readonly nProcesses: number;
  readonly startDelaySeconds: number;
  readonly dieTimeoutSeconds: number;
  notify(msg: string): void;
  removePidFile(): unknown;
  exit(msg?: string, status?: number): never;
  abort(msg?: string, status?: number): never;
}

/** The message a worker sends once its server accepts on the manager's socket. */
export const LISTENING_MESSAGE = 'fcgi-procmanager:listening';

interface WorkerRecord {
  worker: Worker;
  /** When its JavaScript started running: uptime counts from here, so a slow boot on a busy machine is
   * not mistaken for a worker that stayed up. */
  onlineAt: number | undefined;
  /** The manager asked it to stop, so its exit is no crash. */
  retiring: boolean;
  listening: boolean;
  healthyTimer: NodeJS.Timeout | undefined;
}

export class PoolManager {
  private readonly workers = new Map<number, WorkerRecord>();
  private readonly backoff = new RespawnBackoff();
  private readonly exitWaiters: ((pid: number) => void)[] = [];
  private dying = false;
  private spawning = false;
  private readyAnnounced = false;
  /** start_server's readiness channel, when this manager runs under our start_server. */
  private readonly readiness = readinessReporter();

  constructor(
    private readonly host: ManagerHost,
    private readonly socket: ManagerSocket,
  ) {}

  get pids(): number[] {
    return [...this.workers.keys()];
  }

  get isDying(): boolean {
    return this.dying;
  }

  start(): void {
    // Workers accept on their own copy of the manager's socket (see listen.ts), so no connection
    // passes through the manager. SCHED_NONE makes any listen() the app does itself behave the same
    // way instead of round-robin through the primary, which costs an IPC hop per connection.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({
      stdio: [0, 1, 2, this.socket.fd, 'ipc'],
    });
    cluster.on('exit', (worker, code, signal) => this.onWorkerExit(worker, code, signal));
    cluster.on('message', (worker, message) => {
      if (message === LISTENING_MESSAGE) this.onWorkerListening(worker);
    });
    this.host.notify(`listening on ${this.socket.description}`);
    this.readiness.starting();
    void this.spawnMissing();
  }

  /** The whole signal table of the manager. */
  handleSignal(name: string): void {
    switch (name) {
      case 'TERM':
      case 'INT':
        if (this.dying) {
          this.host.notify(`ignoring signal ${name}: already shutting down`);
          return;
        }
        this.host.notify(`received signal ${name}`);
        void this.die(`safe exit from signal ${name}`);
        return;
      case 'HUP':
        if (this.dying) {
          this.host.notify('ignoring signal HUP: shutting down');
          return;
        }
        this.host.notify('received signal HUP');
        this.retireAll();
        return;
      default:
        this.host.notify(`ignoring signal ${name}`);
    }
  }

  /** HUP: every worker finishes its requests and exits, and a fresh process replaces it. */
  retireAll(): void {
    for (const record of this.workers.values()) record.retiring = true;
    this.signalWorkers('TERM');
  }

  /** Resolves with the pid of the next worker to exit (Perl's pm_wait). */
  wait(): Promise<number> {
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /**
   * Shuts down: removes the pid file, TERMs every worker, stops respawning, and exits with `status`
   * once all are reaped, or KILLs them and exits 1 when die_timeout passes first.
   */
  async die(msg = '', status = 0): Promise<never> {
    if (!this.dying) {
      this.dying = true;
      this.host.removePidFile();
      const timeout = this.host.dieTimeoutSeconds;
      // die_timeout 0 means no timeout, as alarm(0) does in Perl.
      if (timeout > 0) setTimeout(() => this.host.abort('wait timeout'), timeout * 1000);
      for (const record of this.workers.values()) record.retiring = true;
      this.signalWorkers('TERM');
    }
    while (this.workers.size > 0) await this.wait();
    return this.host.exit(`dying: ${msg}`, status);
  }

  /** Perl's pm_exit KILLs the workers still alive when the manager exits. */
  killRemaining(): void {
    if (this.workers.size === 0) return;
    this.host.notify(`sending KILL to PIDs, ${this.pids.join(' ')}`);
    for (const pid of this.pids) sendSignal(pid, 'SIGKILL');
  }

  private signalWorkers(name: 'TERM'): void {
    const pids = this.pids;
    if (pids.length === 0) return;
    this.host.notify(`sending ${name} to PIDs, ${pids.join(' ')}`);
    for (const pid of pids) sendSignal(pid, `SIG${name}`);
  }

  /** Perl's fork loop: fork until n_processes run, start_delay apart, waiting out the backoff. */
  private async spawnMissing(): Promise<void> {
    if (this.spawning) return;
    this.spawning = true;
    try {
      while (!this.dying && this.workers.size < this.host.nProcesses) {
        const delay = this.backoff.delayMs();
        if (delay > 0) {
          const exits = this.backoff.quickExits;
          this.host.notify(
            `${exits} server${exits === 1 ? '' : 's'} exited right after start; forking again in ${delay / 1000} s`,
          );
          await sleep(delay);
          if (this.dying || this.workers.size >= this.host.nProcesses) break;
        }
        this.fork();
        if (this.host.startDelaySeconds > 0 && this.workers.size < this.host.nProcesses) {
          await sleep(this.host.startDelaySeconds * 1000);
        }
      }
    } finally {
      this.spawning = false;
    }
  }

  private fork(): void {
    const worker = cluster.fork({ [WORKER_LISTEN_FD_ENV]: String(WORKER_LISTEN_FD) });
    const pid = worker.process.pid;
    if (pid === undefined) {
      this.host.abort('fork: no process was created');
    }
    const record: WorkerRecord = {
      worker,
      onlineAt: undefined,
      retiring: false,
      listening: false,
      healthyTimer: undefined,
    };
    worker.once('online', () => {
      record.onlineAt = Date.now();
      record.healthyTimer = setTimeout(() => this.backoff.recordHealthy(), this.backoff.policy.minUptimeMs);
    });
    this.workers.set(pid, record);
    this.host.notify(`server (pid ${pid}) started`);
  }

  private onWorkerListening(worker: Worker): void {
    const record = this.workers.get(worker.process.pid ?? -1);
    if (!record) return;
    record.listening = true;
    const listening = [...this.workers.values()].filter((r) => r.listening).length;
    if (!this.readyAnnounced && listening >= this.host.nProcesses) {
      this.readyAnnounced = true;
      this.host.notify(`ready: ${listening} servers accepting`);
      this.readiness.ready();
    }
  }

  private onWorkerExit(worker: Worker, code: number | null, signal: string | null): void {
    const pid = worker.process.pid;
    const record = pid === undefined ? undefined : this.workers.get(pid);
    if (pid === undefined || !record) return;
    this.workers.delete(pid);
    clearTimeout(record.healthyTimer);
    this.host.notify(`server (pid ${pid}) exited with status ${describeExit(code, signal)}`);
    if (!record.retiring) this.backoff.recordExit(record.onlineAt === undefined ? 0 : Date.now() - record.onlineAt);
    for (const resolve of this.exitWaiters.splice(0)) resolve(pid);
    if (!this.dying) void this.spawnMissing();
  }
}

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

function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone; its exit event is on its way
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
