// The manager side: forks the workers with node:cluster, keeps one record per worker (the
// scoreboard), and moves the pool towards what it should be: n_processes accepting workers of the
// newest generation. A HUP is a rolling reload (new workers first, an old one retired for each new
// one that accepts), a recycle is the same for one worker, and a crash is a missing worker; the
// decisions are reconcile.ts's, the process I/O is here.
//
// Signals arrive as events on the event loop, so no handler ever interrupts another: the signal
// table in handleSignal() is the whole of the manager's reaction to the outside world.

import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { RespawnBackoff } from '../backoff';
import { BOOT_ATTEMPTS, BOOT_FAILURE_STATUS, BootFailures } from './boot-failures';
import { WORKER_BACKLOG_ENV, WORKER_LISTEN_FD, WORKER_LISTEN_FD_ENV, type ManagerSocket } from '../socket/listen';
import type { WorkerOutput } from '../log/worker-output';
import type { LogFields } from '../log/log';
import { describeExit } from '../os/exit-status';
import { stopReading } from '../socket/stop-reading';
import { isWorkerMessage, sendToWorker, type ManagerMessage, type WorkerMessage, type WorkerMessageAct } from './messages';
import { canSpawn, nextPoolState, planPool, type PoolEvent, type PoolState, type PoolTarget, reloadComplete, resizedWorkers } from './reconcile';
import { Autoscaler, type ScalablePool } from './autoscaler';
import { BootNice } from './boot-nice';
import type { PoolSizing } from './scaling';
import { Watchdog } from './watchdog';
import { sendSignal, WorkerHandle } from './worker-handle';

/** What the pool needs from its ProcManager. */
export interface PoolHost {
  readonly nProcesses: number;
  readonly startDelaySeconds: number;
  readonly dieTimeoutSeconds: number;
  readonly reloadSurge: number;
  readonly reloadTimeoutSeconds: number;
  readonly reloadWarmupSeconds: number;
  /** boot_nice as it applies (0 where it cannot): see os/boot-priority. */
  readonly bootNice: number;
  /** worker_timeout: a worker silent this long is killed (0: no watchdog). */
  readonly workerTimeoutSeconds: number;
  /** pm: static, or dynamic with its limits. */
  readonly sizing: PoolSizing;
  /** Put in front of each worker's execArgv (the privilege drop's preload), and added to its environment. */
  readonly workerExecArgv: readonly string[];
  readonly workerEnv: Readonly<Record<string, string>>;
  /** node_args: after the manager's own node options, so that they win. */
  readonly nodeArgs: readonly string[];
  /** Set when the workers' stdout and stderr are to come through the manager's log. */
  readonly workerOutput: WorkerOutput | undefined;
  /** `fields`: the event's own, for log_format json. */
  notify(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  reopenLogs(): void;
  drainWorkerOutput(): Promise<void>;
  /**
   * Before a reload: reads the configuration anew and applies what can change in place. Resolves with
   * the parameters it changed, or with why it was refused (the running configuration then stays).
   */
  reloadConfiguration(): Promise<ConfigurationReload>;
  /** The reload ended (complete or abandoned); an abandoned one's configuration is put back: its names. */
  reloadSettled(complete: boolean): readonly string[];
  removePidFile(): unknown;
  exit(msg?: string, status?: number): never;
  abort(msg?: string, status?: number): never;
}

/** What the status page reads of the pool: counters and one record per worker, never the pool itself. */
export interface Scoreboard {
  startedAt: number;
  workers: number;
  processManager: PoolSizing['mode'];
  /** The most workers the pool may have: n_processes (pm.max_children), as TTIN and TTOU moved it. */
  maxChildren: number;
  maxChildrenReached: number;
  generation: number;
  reloads: number;
  recycles: number;
  /** Kept connections passed from retiring workers to serving ones. */
  handedOverConnections: number;
  watchdogKills: number;
  /** Requests served by workers that have exited. */
  servedByExited: number;
  maxActive: number;
  quickExits: number;
  respawnDelayMs: number;
  state: PoolState;
  handles: readonly WorkerHandle[];
}

/** Builds the answer to a status request (the status module, wired in by the ProcManager). */
export type StatusSource = (scoreboard: Scoreboard) => Promise<unknown> | unknown;

/** How long a status request waits for the workers' fresh reports; a blocked worker's last one stands. */
const STATUS_REPORT_WAIT_MS = 200;

export type ConfigurationReload = { refused: string } | { changed: readonly string[] };

/** The parameters that size the pool: a reload that changes one of them resizes it. */
const SIZING_PARAMS: readonly string[] = ['n_processes', 'start_servers', 'min_spare_servers', 'max_spare_servers', 'max_spawn_rate', 'process_idle_timeout'];

/** What integrations (start_server's readiness, later systemd) can follow. */
export type PoolLifecycleEvent = 'starting' | 'ready' | 'reloading' | 'reloaded' | 'reload-abandoned' | 'stopping';

/** How a reload ended: its generation serves (complete), or it was abandoned and `serving` serves on. */
export interface ReloadOutcome {
  complete: boolean;
  generation: number;
  /** The generation serving now. */
  serving: number;
  seconds: number;
  /** Why it was abandoned. */
  reason?: string;
}

/** An abandoned reload, as the log and `fcgi-pm reload` say it. */
export function describeAbandoned(outcome: Pick<ReloadOutcome, 'generation' | 'serving' | 'reason'>): string {
  return `reload abandoned: generation ${outcome.generation}: ${outcome.reason ?? 'no reason given'}; generation ${outcome.serving} keeps serving`;
}

/** What `scale` did: the size it set (pm static) or the maximum (dynamic, ondemand), said as the log says it. */
export type ScaleOutcome = { workers: number; what: 'workers' | 'max_children'; message: string } | { error: string };

interface Reload {
  /** The generation that served before the reload began: it serves on if the reload is abandoned. */
  from: number;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
}

/** `sent` is the handle a message carries (a kept connection, for fcgi-pm:hand-over). */
type Handlers = { [A in WorkerMessageAct]: (handle: WorkerHandle, message: Extract<WorkerMessage, { act: A }>, sent: unknown) => void };

export class WorkerPool {
  private readonly handles = new Map<number, WorkerHandle>();
  private readonly events = new EventEmitter();
  private readonly backoff = new RespawnBackoff();
  private readonly bootFailures = new BootFailures();
  /** The last error a worker failed to boot with, logged once while the next ones fail the same way. */
  private lastBootError: string | undefined;
  private readonly exitWaiters: ((pid: number) => void)[] = [];
  private state: PoolState = 'running';
  /** The newest generation ever started; numbers are never reused. */
  private newestGeneration = 1;
  /** The generation the pool is moving to. */
  private targetGeneration = 1;
  private reload: Reload | undefined;
  private spawning = false;
  private readyAnnounced = false;
  /** worker_timeout's watchdog, when it is on. */
  private readonly watchdog: Watchdog | undefined;
  /** How many workers the pool keeps: n_processes, moved by TTIN and TTOU. */
  private desiredWorkers: number;
  private readonly startedAt = Date.now();
  private readonly bootNice: BootNice;
  private reloads = 0;
  private recycles = 0;
  private servedByExited = 0;
  private maxActive = 0;
  private statusSource: StatusSource | undefined;
  /** pm = dynamic or ondemand: what resizes the pool. */
  private readonly autoscaler: Autoscaler | undefined;
  /** Resolved as each worker's report arrives (a status request waits for them). */
  private reportWaiters: (() => void)[] = [];
  /** Kept connections passed from retiring workers to serving ones (which one gets the next). */
  private handedOver = 0;
  /** The workers' node options before node_args: the privilege drop's preload, then the manager's own. */
  private baseExecArgv: string[] = [];
  private lastReloadOutcome: ReloadOutcome | undefined;

  private readonly handlers: Handlers = {
    'fcgi-pm:accepting': (handle) => this.onAccepting(handle),
    'fcgi-pm:report': (handle, report) => this.onReport(handle, report),
    'fcgi-pm:recycle': (handle, { reason }) => this.onRecycleAsked(handle, reason),
    // Hearing from it is what counts (lastHeardAt, set for every message); its count keeps the log right.
    'fcgi-pm:heartbeat': (handle, { inFlight }) => handle.setInFlight(inFlight),
    'fcgi-pm:status-request': (handle, { id }) => void this.answerStatus(handle, id),
    'fcgi-pm:hand-over': (handle, _message, sent) => this.passConnectionOn(handle, sent),
    // It is about to exit: nothing more goes to it, and the answer follows whatever did.
    'fcgi-pm:drained': (handle) => {
      handle.drained = true;
      sendToWorker(handle.worker, { act: 'fcgi-pm:drained' });
    },
    'fcgi-pm:boot-failed': (handle, { error }) => this.onBootFailed(handle, error),
  };

  constructor(
    private readonly host: PoolHost,
    private readonly socket: ManagerSocket,
  ) {
    this.bootNice = new BootNice(host.bootNice, (msg) => host.warn(msg));
    const { sizing } = host;
    if (sizing.mode !== 'static') {
      const pool: ScalablePool = {
        isRunning: () => this.state === 'running',
        isStopping: () => this.isStopping,
        socketFd: socket.fd,
        liveWorkers: () => this.liveWorkers(),
        setDesiredWorkers: (count) => {
          this.desiredWorkers = count;
          this.maintain();
        },
        retireOne: (handle) => {
          this.desiredWorkers = Math.max(0, this.liveWorkers().length - 1);
          this.retire([handle]);
          this.maintain();
        },
        notify: (msg) => host.notify(msg),
      };
      this.autoscaler = new Autoscaler(sizing, pool, host.nProcesses);
    }
    this.desiredWorkers = this.autoscaler?.initialWorkers ?? host.nProcesses;
    if (host.workerTimeoutSeconds > 0) {
      // Signalled directly: worker.kill() disconnects first, which a blocked loop never completes.
      this.watchdog = new Watchdog(host.workerTimeoutSeconds, () => [...this.handles.values()], (msg) => host.notify(msg), (pid) => sendSignal(pid, 'SIGKILL'));
    }
  }

  /** How many workers the pool keeps now. */
  get workers(): number {
    return this.desiredWorkers;
  }

  get pids(): number[] {
    return [...this.handles.keys()];
  }

  get isStopping(): boolean {
    return this.state === 'stopping';
  }

  on(event: PoolLifecycleEvent, listener: () => void): this {
    this.events.on(event, listener);
    return this;
  }

  /**
   * Resolves with how the reload of `generation` ended, or the newer one that took it over (a HUP
   * during a reload moves on to a newer generation).
   */
  reloadOutcome(generation: number): Promise<ReloadOutcome> {
    if (this.lastReloadOutcome && this.lastReloadOutcome.generation >= generation) return Promise.resolve(this.lastReloadOutcome);
    return new Promise((resolve) => {
      const settled = (outcome: ReloadOutcome) => {
        if (outcome.generation < generation) return;
        this.events.off('reload-settled', settled);
        resolve(outcome);
      };
      this.events.on('reload-settled', settled);
    });
  }

  get poolState(): PoolState {
    return this.state;
  }

  start(): void {
    // Workers accept on their own copy of the manager's socket (see socket/listen.ts), so no connection
    // passes through the manager. SCHED_NONE makes any listen() the app does itself behave the same
    // way instead of round-robin through the primary, which costs an IPC hop per connection.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    // A socket inherited on fd 0 (spawn-fcgi, a web server) is not also the workers' stdin: Node
    // restores its stdio fds' O_NONBLOCK flag when it exits, and the flag belongs to the open file
    // description that every worker's fd 3 shares, so a retiring worker would turn its successors'
    // accept() into a blocking call.
    const stdin = this.socket.fd === 0 ? 'ignore' : 0;
    // Through the manager's log, the workers' output comes in pipes; otherwise it is the manager's own.
    const [stdout, stderr] = this.host.workerOutput ? ['pipe', 'pipe'] : [1, 2];
    this.baseExecArgv = [...this.host.workerExecArgv, ...(cluster.settings.execArgv ?? process.execArgv)];
    cluster.setupPrimary({ stdio: [stdin, stdout, stderr, this.socket.fd, 'ipc'] });
    cluster.on('exit', (worker, code, signal) => this.onWorkerExit(worker, code, signal));
    cluster.on('disconnect', (worker) => this.handleOf(worker)?.disconnected());
    cluster.on('message', (worker, message: unknown, sent: unknown) => {
      const handle = this.handleOf(worker);
      if (!handle || !isWorkerMessage(message)) {
        if (sent instanceof net.Socket) sent.destroy(); // a connection nobody will serve
        return;
      }
      handle.lastMessageAt = Date.now();
      handle.lastHeardAt = performance.now();
      (this.handlers[message.act] as (h: WorkerHandle, m: WorkerMessage, sent: unknown) => void)(handle, message, sent);
    });
    this.host.notify(`listening on ${this.socket.description}`);
    this.events.emit('starting');
    if (this.watchdog) this.watchdog.start();
    this.autoscaler?.start();
    // With no worker wanted (pm = ondemand) the pool is ready at once: connections wait in the backlog.
    this.announceReadyIfAccepting();
    this.maintain();
  }

  /** Where status requests get their answer (status_path); without one they get an error. */
  setStatusSource(source: StatusSource): void {
    this.statusSource = source;
  }

  scoreboard(): Scoreboard {
    return {
      startedAt: this.startedAt,
      workers: this.desiredWorkers,
      processManager: this.host.sizing.mode,
      maxChildren: this.autoscaler?.maxChildren ?? this.desiredWorkers,
      maxChildrenReached: this.autoscaler?.maxChildrenReached ?? 0,
      generation: this.targetGeneration,
      reloads: this.reloads,
      recycles: this.recycles,
      handedOverConnections: this.handedOver,
      watchdogKills: this.watchdog?.kills ?? 0,
      servedByExited: this.servedByExited,
      maxActive: this.maxActive,
      quickExits: this.backoff.quickExits,
      respawnDelayMs: this.backoff.delayMs(),
      state: this.state,
      handles: [...this.handles.values()],
    };
  }

  /**
   * The scoreboard after asking every worker for its report now, waiting (at most
   * STATUS_REPORT_WAIT_MS) for them, so the figures are exact; a blocked worker's last report stands.
   */
  async freshScoreboard(): Promise<Scoreboard> {
    await this.refreshReports();
    return this.scoreboard();
  }

  private async refreshReports(): Promise<void> {
    const asked = [...this.handles.values()].filter((h) => h.worker.isConnected());
    const before = new Map(asked.map((h) => [h, h.reports]));
    for (const h of asked) sendToWorker(h.worker, { act: 'fcgi-pm:report-now' });
    const deadline = Date.now() + STATUS_REPORT_WAIT_MS;
    while (asked.some((h) => this.handles.has(h.pid) && h.reports === before.get(h)) && Date.now() < deadline) {
      await Promise.race([new Promise<void>((resolve) => this.reportWaiters.push(resolve)), sleep(Math.max(1, deadline - Date.now()))]);
    }
  }

  /** The whole signal table of the manager. */
  handleSignal(name: string): void {
    switch (name) {
      case 'TERM':
      case 'INT':
        this.requestStop(`received signal ${name}`, `safe exit from signal ${name}`);
        return;
      case 'HUP':
        void this.requestReload('received signal HUP');
        return;
      case 'TTIN':
      case 'TTOU': {
        if (this.isStopping) return this.host.notify(`ignoring signal ${name}: shutting down`);
        const size = this.autoscaler?.maxChildren ?? this.desiredWorkers; // the maximum moves, or the size
        this.scale(resizedWorkers(size, name), `received signal ${name}`, { exact: false });
        return;
      }
      case 'USR1':
        // logrotate has renamed the logs: each process opens its own files again. The line goes to
        // the new file, so whoever watches it knows the reopen happened.
        this.host.reopenLogs();
        this.host.notify('received signal USR1: logs reopened');
        for (const pid of this.pids) sendSignal(pid, 'SIGUSR1');
        return;
      default:
        this.host.notify(`ignoring signal ${name}`);
    }
  }

  /** A graceful stop asked for by `why` (TERM, INT, the control socket); `exitMessage` is die()'s. */
  requestStop(why: string, exitMessage: string): void {
    if (this.isStopping) return this.host.notify(`ignoring ${why.replace(/^received /, '')}: already shutting down`);
    this.host.notify(why);
    void this.die(exitMessage);
  }

  /**
   * A reload asked for by `why` (HUP, the control socket): the configuration is read anew first, and a
   * reload onto one that does not validate is refused. Resolves with the reload's generation, or with
   * why it was refused.
   */
  async requestReload(why: string): Promise<{ generation: number } | { refused: string }> {
    if (this.isStopping) {
      this.host.notify(`ignoring ${why.replace(/^received /, '')}: shutting down`);
      return { refused: 'the pool is shutting down' };
    }
    this.host.notify(why);
    const configuration = await this.host.reloadConfiguration();
    if ('refused' in configuration) {
      this.host.warn(`reload refused: ${configuration.refused}; the running configuration stays`);
      return configuration;
    }
    if (this.isStopping) return { refused: 'the pool is shutting down' };
    this.configurationChanged(configuration.changed);
    return { generation: this.startReload() };
  }

  /** Parameters changed (a reload read them anew, or put them back): the pool's size and boot priority follow. */
  private configurationChanged(names: readonly string[]): void {
    if (names.includes('boot_nice')) this.bootNice.setSteps(this.host.bootNice);
    if (!names.some((name) => SIZING_PARAMS.includes(name))) return; // a size set by scale or TTIN stays
    const { sizing } = this.host;
    if (this.autoscaler && sizing.mode !== 'static') this.autoscaler.setSizing(sizing, this.host.nProcesses);
    else this.desiredWorkers = this.host.nProcesses;
  }

  /**
   * The pool's size (pm static), or its maximum (dynamic and ondemand, as TTIN and TTOU move it);
   * `why` begins the log line. Fewer workers retire the highest slots, which drain first. `exact`:
   * a count the pool cannot take is refused, not brought within bounds (a signal's is).
   */
  scale(workers: number, why: string, { exact }: { exact: boolean }): ScaleOutcome {
    if (this.isStopping) return { error: 'the pool is shutting down' };
    if (this.autoscaler) {
      const outcome = this.autoscaler.setMaxChildren(workers, why, exact);
      if ('error' in outcome) return outcome;
      return { workers: this.autoscaler.maxChildren, what: 'max_children', message: outcome.message };
    }
    const before = this.desiredWorkers;
    this.desiredWorkers = Math.max(1, workers);
    const count = servers(this.desiredWorkers);
    const message = `${why}: ${this.desiredWorkers === before ? `already at ${count}` : count}`;
    this.host.notify(message);
    this.maintain();
    return { workers: this.desiredWorkers, what: 'workers', message };
  }

  /**
   * HUP: a rolling reload to a new generation. Its workers start first (at most reload_surge beyond
   * n_processes), and an old worker is retired for each one that accepts. A HUP during a reload starts
   * over with a newer generation.
   */
  startReload(): number {
    const from = this.reload?.from ?? this.targetGeneration;
    clearTimeout(this.reload?.timer);
    this.newestGeneration++;
    this.reloads++;
    this.targetGeneration = this.newestGeneration;
    this.transition('reload');
    this.backoff.recordHealthy(); // a fixed release is tried at once, not after a crash loop's delay
    const timeout = this.host.reloadTimeoutSeconds;
    const timer = timeout > 0 ? setTimeout(() => this.abandonReload(`not all accepting within reload_timeout ${timeout} s`), timeout * 1000) : undefined;
    this.reload = { from, startedAt: Date.now(), timer };
    const replacing = [...this.handles.values()].filter((h) => !h.retired).length;
    this.host.notify(`reloading: generation ${this.targetGeneration}, replacing ${replacing} servers`, { generation: this.targetGeneration });
    this.events.emit('reloading');
    const generation = this.targetGeneration;
    this.maintain(); // may complete it at once (no worker to wait for)
    return generation;
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
    if (!this.isStopping) {
      this.transition('stop');
      clearTimeout(this.reload?.timer);
      this.events.emit('stopping');
      this.host.removePidFile();
      const timeout = this.host.dieTimeoutSeconds;
      // die_timeout 0 means no timeout, as alarm(0) does in Perl.
      if (timeout > 0) setTimeout(() => this.host.abort('wait timeout'), timeout * 1000);
      this.retire([...this.handles.values()]);
    }
    while (this.handles.size > 0) await this.wait();
    await this.host.drainWorkerOutput();
    return this.host.exit(`dying: ${msg}`, status);
  }

  /** Perl's pm_exit KILLs the workers still alive when the manager exits. */
  killRemaining(): void {
    if (this.handles.size === 0) return;
    this.host.notify(`sending KILL to PIDs, ${this.pids.join(' ')}`);
    for (const pid of this.pids) sendSignal(pid, 'SIGKILL');
  }

  // ---- Moving towards the plan ------------------------------------------------------------

  private get target(): PoolTarget {
    return { workers: this.desiredWorkers, surge: this.host.reloadSurge, generation: this.targetGeneration };
  }

  /** Applies the plan: retires whom it says at once, forks the rest in the spawn loop. */
  private maintain(): void {
    if (!canSpawn(this.state)) return;
    const plan = planPool([...this.handles.values()], this.target);
    this.retire(plan.retire.map((pid) => this.handles.get(pid)!));
    if (this.servingCount() < this.desiredWorkers) this.bootNice.shortOfWorkers(this.handles.values());
    this.finishReloadIfComplete();
    if (plan.spawn > 0) void this.spawnLoop();
    this.autoscaler?.reconciled();
  }

  /** Workers accepting and not retired. */
  private servingCount(): number {
    return this.liveWorkers().filter((h) => h.state === 'accepting').length;
  }

  private liveWorkers(): WorkerHandle[] {
    return [...this.handles.values()].filter((h) => !h.retired && (h.state === 'starting' || h.state === 'accepting'));
  }


  /** Perl's fork loop: fork while the plan asks for more, start_delay apart, waiting out the backoff. */
  private async spawnLoop(): Promise<void> {
    if (this.spawning) return;
    this.spawning = true;
    try {
      let waited = false;
      while (canSpawn(this.state) && planPool([...this.handles.values()], this.target).spawn > 0) {
        const delay = this.backoff.delayMs();
        if (delay > 0 && !waited) {
          const exits = this.backoff.quickExits;
          this.host.notify(`${exits} server${exits === 1 ? '' : 's'} exited right after start; forking again in ${delay / 1000} s`);
          await sleep(delay);
          waited = true;
          continue; // the plan may have changed meanwhile
        }
        waited = false;
        this.fork();
        if (this.host.startDelaySeconds > 0) await sleep(this.host.startDelaySeconds * 1000);
      }
    } finally {
      this.spawning = false;
    }
  }

  private retire(handles: readonly WorkerHandle[]): void {
    const targets = handles.filter((h) => !h.retired);
    if (targets.length === 0) return;
    this.host.notify(`sending TERM to PIDs, ${targets.map((h) => h.pid).join(' ')}`, { workers: targets.map((h) => h.pid).join(' ') });
    // Workers that serve on take over the retiring ones' kept connections (worker/connection-handover.ts).
    const handOver = !this.isStopping && [...this.handles.values()].some((h) => !targets.includes(h) && h.serving);
    for (const handle of targets) {
      if (handle.recycle) {
        this.recycles++;
        this.host.notify(`server (pid ${handle.pid}) recycled: ${handle.recycleReason}`, { worker: handle.pid, generation: handle.generation, slot: handle.slot });
      }
      handle.retire(handOver);
    }
  }

  /**
   * A retiring worker handed over an idle kept connection: a worker that serves on gets it, the
   * newest generation first, in turn; with none left (the pool stops), it is closed.
   */
  private passConnectionOn(from: WorkerHandle, sent: unknown): void {
    if (!(sent instanceof net.Socket)) return;
    stopReading(sent); // nothing of it is read here
    const serving = [...this.handles.values()].filter((h) => h !== from && h.serving && h.worker.isConnected());
    const newest = Math.max(...serving.map((h) => h.generation));
    const candidates = serving.filter((h) => h.generation === newest);
    const to = candidates[this.handedOver % Math.max(1, candidates.length)];
    if (this.isStopping || !to) {
      sent.destroy();
      return;
    }
    this.handedOver++;
    sendToWorker(to.worker, { act: 'fcgi-pm:adopt' }, sent, (err) => {
      if (err) sent.destroy();
    });
  }

  private fork(): void {
    // node_args may change at a reload: they are set for each fork, after the manager's own.
    cluster.setupPrimary({ execArgv: [...this.baseExecArgv, ...this.host.nodeArgs] });
    const worker = cluster.fork({ ...this.host.workerEnv, [WORKER_LISTEN_FD_ENV]: String(WORKER_LISTEN_FD), [WORKER_BACKLOG_ENV]: String(this.socket.backlog) });
    const pid = worker.process.pid;
    if (pid === undefined) this.host.abort('fork: no process was created');
    this.host.workerOutput?.take(pid!, worker.process.stdout, worker.process.stderr);
    const handle = new WorkerHandle(worker, pid, this.freeSlot(), this.targetGeneration);
    this.bootNice.forked(handle, this.servingCount(), this.desiredWorkers);
    worker.once('online', () => {
      handle.onlineAt = Date.now();
      handle.healthyTimer = setTimeout(() => this.backoff.recordHealthy(), this.backoff.policy.minUptimeMs);
    });
    this.handles.set(pid, handle);
    this.host.notify(`server (pid ${pid}) started`, { worker: pid, generation: handle.generation, slot: handle.slot });
  }

  /** The lowest slot number no live worker holds. */
  private freeSlot(): number {
    const taken = new Set([...this.handles.values()].map((h) => h.slot));
    let slot = 0;
    while (taken.has(slot)) slot++;
    return slot;
  }

  // ---- Events from the workers ------------------------------------------------------------

  private handleOf(worker: Worker): WorkerHandle | undefined {
    return this.handles.get(worker.process.pid ?? -1);
  }

  private onAccepting(handle: WorkerHandle): void {
    if (handle.state === 'starting') handle.state = 'accepting';
    this.bootFailures.accepted();
    this.bootNice.restore(handle); // it serves now: at the priority of the workers beside it
    handle.acceptingAt = Date.now();
    handle.bootMs = performance.now() - handle.forkedAtMonotonic;
    // A fresh Node process runs its code slowly until V8 has compiled the hot paths; the workers it
    // replaces serve on until it is warm. Then the plan may retire one of them.
    const warmupMs = this.host.reloadWarmupSeconds * 1000;
    const warmedUp = () => {
      handle.warm = true;
      this.maintain();
    };
    // A flag set when the timer fires, not a clock compared with a deadline: a timer may fire a
    // millisecond before Date.now() reaches it, and the plan would then wait for another event.
    if (warmupMs > 0) handle.warmTimer = setTimeout(warmedUp, warmupMs);
    else handle.warm = true;
    handle.setInFlight(handle.inFlight);
    this.announceReadyIfAccepting();
    this.maintain();
  }

  /** Once, when as many workers accept as the pool wants (none, for pm = ondemand). */
  private announceReadyIfAccepting(): void {
    const accepting = [...this.handles.values()].filter((h) => h.state === 'accepting').length;
    if (!this.readyAnnounced && accepting >= this.desiredWorkers) {
      this.readyAnnounced = true;
      this.host.notify(`ready: ${servers(accepting)} accepting${this.host.sizing.mode === 'ondemand' ? ' (pm = ondemand)' : ''}`, { generation: this.targetGeneration });
      this.events.emit('ready');
    }
  }

  private onReport(handle: WorkerHandle, report: Extract<WorkerMessage, { act: 'fcgi-pm:report' }>): void {
    handle.applyReport(report);
    let active = 0;
    for (const h of this.handles.values()) if (h.inFlight > 0) active++;
    this.maxActive = Math.max(this.maxActive, active);
    for (const resolve of this.reportWaiters.splice(0)) resolve();
  }

  /** status_path: the asking worker gets the status source's answer, from fresh reports. */
  private async answerStatus(handle: WorkerHandle, id: number): Promise<void> {
    const reply = (message: ManagerMessage) => {
      sendToWorker(handle.worker, message);
    };
    if (!this.statusSource) return reply({ act: 'fcgi-pm:status', id, snapshot: null, error: 'no status source' });
    await this.refreshReports();
    try {
      reply({ act: 'fcgi-pm:status', id, snapshot: await this.statusSource(this.scoreboard()) });
    } catch (err) {
      reply({ act: 'fcgi-pm:status', id, snapshot: null, error: (err as Error).message });
    }
  }

  private onRecycleAsked(handle: WorkerHandle, reason: string): void {
    if (handle.retired || handle.recycle) return;
    handle.recycle = true;
    handle.recycleReason = reason;
    this.maintain(); // its replacement starts first; it retires once the replacement accepts
  }

  private onWorkerExit(worker: Worker, code: number | null, signal: string | null): void {
    const handle = this.handleOf(worker);
    if (!handle) return;
    this.handles.delete(handle.pid);
    this.servedByExited += handle.served;
    clearTimeout(handle.healthyTimer);
    clearTimeout(handle.warmTimer);
    this.bootNice.exited(handle);
    this.host.notify(`server (pid ${handle.pid}) exited with status ${describeExit(code, signal)}`, { worker: handle.pid, generation: handle.generation, slot: handle.slot, exitCode: code, signal });
    if (!handle.retired) {
      this.backoff.recordExit(handle.onlineAt === undefined ? 0 : Date.now() - handle.onlineAt);
      this.bootFailures.exited(handle.acceptingAt !== undefined);
    }
    for (const resolve of this.exitWaiters.splice(0)) resolve(handle.pid);
    const neverAccepted = handle.acceptingAt === undefined;
    if (this.state === 'reloading' && !handle.retired && neverAccepted && handle.generation === this.targetGeneration) {
      this.abandonReload(`server (pid ${handle.pid}) exited before it accepted`);
    }
    if (this.bootFailures.givingUp && !this.isStopping) {
      void this.die(`no server could start: ${BOOT_ATTEMPTS} in a row failed before accepting, and none ever has; the app fails as it loads (its error is above)`, BOOT_FAILURE_STATUS);
      return;
    }
    this.maintain();
  }

  /** A worker failed before it accepted: its error is logged, once while the next ones fail the same way. */
  private onBootFailed(handle: WorkerHandle, error: string): void {
    const same = error === this.lastBootError;
    this.lastBootError = error;
    this.host.warn(`server (pid ${handle.pid}) failed to start: ${same ? 'the same error as the previous one' : error}`, { worker: handle.pid, generation: handle.generation });
  }

  // ---- Reloads ----------------------------------------------------------------------------

  private finishReloadIfComplete(): void {
    if (this.state !== 'reloading' || !this.reload) return;
    if (!reloadComplete([...this.handles.values()], this.target)) return;
    const seconds = ((Date.now() - this.reload.startedAt) / 1000).toFixed(2);
    clearTimeout(this.reload.timer);
    this.reload = undefined;
    this.transition('reload-complete');
    this.host.notify(`reload complete: generation ${this.targetGeneration}, ${servers(this.desiredWorkers)} accepting in ${seconds} s`, { generation: this.targetGeneration });
    this.events.emit('reloaded');
    this.host.reloadSettled(true);
    this.settleReload({ complete: true, generation: this.targetGeneration, serving: this.targetGeneration, seconds: Number(seconds) });
  }

  /**
   * A broken release: the new generation's workers that do not accept yet are stopped, and the
   * generation that served before goes on serving. The next HUP tries again at once.
   */
  private abandonReload(reason: string): void {
    if (this.state !== 'reloading' || !this.reload) return;
    const { from, timer, startedAt } = this.reload;
    clearTimeout(timer);
    this.reload = undefined;
    const abandoned = this.targetGeneration;
    this.targetGeneration = from;
    this.transition('reload-abandoned');
    this.host.warn(describeAbandoned({ generation: abandoned, serving: from, reason }), { generation: abandoned, serving: from });
    this.retire([...this.handles.values()].filter((h) => h.generation > from && h.state === 'starting'));
    this.events.emit('reload-abandoned');
    this.configurationChanged(this.host.reloadSettled(false));
    this.settleReload({ complete: false, generation: abandoned, serving: from, seconds: (Date.now() - startedAt) / 1000, reason });
    this.maintain();
  }

  private settleReload(outcome: ReloadOutcome): void {
    this.lastReloadOutcome = outcome;
    this.events.emit('reload-settled', outcome);
  }

  private transition(event: PoolEvent): void {
    const next = nextPoolState(this.state, event);
    if (next === undefined) throw new Error(`pool: ${event} is not allowed while ${this.state}`);
    this.state = next;
  }
}

/** `1 server`, `2 servers`. */
function servers(count: number): string {
  return `${count} server${count === 1 ? '' : 's'}`;
}
