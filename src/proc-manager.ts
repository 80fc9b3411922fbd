// ProcManager: the class users see. It keeps FCGI::ProcManager's names, parameters, hooks and log
// lines, and hands the work of each role to its own modules: pool/ forks and reaps, worker/ drains
// requests, socket/ finds and opens the socket, params/ checks the parameters.

import cluster from 'node:cluster';
import type * as net from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  DEFAULT_BACKLOG,
  formatHostPort,
  HOW_TO_GIVE_A_SOCKET,
  listenOnInheritedFd,
  listenStandalone,
  openManagerSocket,
  resolveListenAddress,
  WORKER_BACKLOG_ENV,
  WORKER_LISTEN_FD_ENV,
} from './socket/listen';
import { checkAppendable, describeFileError, openOrThrow } from './os/files';
import { equipWorker } from './worker/equip';
import { applyWorkerPath, FASTCGI_PATH_CHOICES, type FastCgiPathChoice, isNodeFastcgiServer } from './fastcgi';
import { sendToManager } from './pool/messages';
import type { ConfigurationReload, WorkerPool } from './pool/pool';
import type { PoolSizing } from './pool/scaling';
import { Log, type LogFields, type LogLevel } from './log/log';
import type { WorkerOutput } from './log/worker-output';
import {
  checkParamCombinations,
  DEFAULT_PARAMS,
  type ProcManagerParams,
  type ResolvedParams,
  resolveParams,
  type Role,
  validateParams,
  WORKER_TITLE,
} from './params';
import { setProcessTitle } from './os/process-title';
import { WorkerLifecycle } from './worker/lifecycle';
import { type RecyclePolicy, requestLimit } from './worker/recycle';
import { takeOverListen } from './worker/listen-takeover';
import { flushCompileCache, openCompileCache } from './os/compile-cache';

/**
 * The modules only the manager uses, loaded when manage() starts one: a worker, which loads this
 * file too, boots without them (a third of the library's load time; see docs/worker-path.md).
 */
function managerModules() {
  return {
    ...(require('./os/accounts') as typeof import('./os/accounts')),
    ...(require('./os/privileges') as typeof import('./os/privileges')),
    ...(require('./os/child-registry') as typeof import('./os/child-registry')),
    ...(require('./os/orphan-reaper') as typeof import('./os/orphan-reaper')),
    ...(require('./os/boot-priority') as typeof import('./os/boot-priority')),
    ...(require('./os/parent-watch') as typeof import('./os/parent-watch')),
    ...(require('./socket/listen-queue') as typeof import('./socket/listen-queue')),
    ...(require('./socket/address') as typeof import('./socket/address')),
    ...(require('./integrations/start-server-readiness') as typeof import('./integrations/start-server-readiness')),
    ...(require('./integrations/systemd-notify') as typeof import('./integrations/systemd-notify')),
    ...(require('./status/collect') as typeof import('./status/collect')),
    ...(require('./status/http-listener') as typeof import('./status/http-listener')),
    ...(require('./control/server') as typeof import('./control/server')),
    ...(require('./control/pool-control') as typeof import('./control/pool-control')),
    ...(require('./pool/pool') as typeof import('./pool/pool')),
    ...(require('./pool/scaling') as typeof import('./pool/scaling')),
    ...(require('./pool/socket-watch') as typeof import('./pool/socket-watch')),
    ...(require('./log/worker-output') as typeof import('./log/worker-output')),
    ...(require('./os/pid-file') as typeof import('./os/pid-file')),
    ...(require('./preflight') as typeof import('./preflight')),
    ...(require('./params/reload-plan') as typeof import('./params/reload-plan')),
    ...(require('./params/reload-read') as typeof import('./params/reload-read')),
    ...(require('./os/file-watch') as typeof import('./os/file-watch')),
  };
}
let loadedManagerModules: ReturnType<typeof managerModules> | undefined;
const manager = () => (loadedManagerModules ??= managerModules());

/**
 * Where a reload reads the parameters anew (fcgi-pm: its --config file, under its flags). Without
 * one, a reload keeps the parameters the manager started with.
 */
export interface ConfigurationSource {
  /** The parameters as they are now; throws with one line when they cannot be read. */
  read(): Promise<ProcManagerParams>;
  /** After a reload has applied new values: the parameters the manager now runs with. */
  applied?(params: Readonly<ResolvedParams>): void;
}

/** What a reload runs with: the parameters, and what the manager derived from them. */
interface RunningConfiguration {
  params: ResolvedParams & { [key: string]: unknown };
  sizing: PoolSizing;
  userEnv: Readonly<Record<string, string>>;
}

export interface AttachOptions {
  /**
   * Wrap every request in preDispatch()/postDispatch() (the default). With false the application
   * calls them itself, as a Perl request loop does.
   */
  dispatch?: boolean;
  /**
   * For a node-fastcgi server: 'worker-path' (the default) serves its connections with this
   * library's record layer (kept connections, no protocol defects; docs/worker-path.md);
   * 'as-is' leaves node-fastcgi's own code in place.
   */
  fastcgi?: FastCgiPathChoice;
}

/** The signals a worker turns into a graceful exit. INT is there so that Ctrl-C in a terminal, which
 * reaches the whole process group, lets requests finish. */
const WORKER_STOP_SIGNALS = ['TERM', 'HUP', 'INT'] as const;
/** USR1 reopens the logs (logrotate), as in PHP-FPM, unicorn and gunicorn; it is forwarded to the workers.
 * TTIN and TTOU add and remove a worker, as in gunicorn and unicorn. */
const MANAGER_SIGNALS = ['TERM', 'INT', 'HUP', 'USR1', 'TTIN', 'TTOU'] as const;
/** How long the manager waits for its last workers' last lines before it exits. */
const WORKER_OUTPUT_DRAIN_MS = 2_000;


export class ProcManager {
  /** The class of the instance that the pm_* functions act on (Perl's $FCGI::ProcManager::Default). */
  static Default: new (params?: ProcManagerParams) => ProcManager = ProcManager;

  /** Every parameter, checked and over its default; and any other key given, as Perl keeps it. */
  private readonly params: ResolvedParams & { [key: string]: unknown };
  private readonly signalCounts: Record<string, number> = {};
  private pool: WorkerPool | undefined;
  private lifecycle: WorkerLifecycle | undefined;
  private recycle: RecyclePolicy | undefined;
  private capturedOutput: WorkerOutput | undefined;
  private sizingOfPool: PoolSizing = { mode: 'static' };
  private workerExecArgvValue: readonly string[] = [];
  private workerEnvValue: Readonly<Record<string, string>> = {};
  private bootNiceValue: number | undefined;
  /** Why boot_nice cannot work here (found once, at start), or undefined. */
  private bootNiceUnavailable: string | undefined;
  /** The workers' environment from the manager's own plans (privilege drop, compile cache), under and over the user's. */
  private workerEnvParts: { under: Record<string, string>; over: Record<string, string> } = { under: {}, over: {} };
  private configurationSource: ConfigurationSource | undefined;
  /** env_file's and env's variables for the workers, as running. */
  private userWorkerEnv: Readonly<Record<string, string>> = {};
  /** The configuration before a reload applied a new one: put back if that reload is abandoned. */
  private configurationBeforeReload: RunningConfiguration | undefined;
  /** Servers given to attach(), each attached once. */
  private readonly attached = new WeakMap<net.Server, Promise<void>>();
  /** Where notify(), warn() and error() write: stderr or the logger, and log_file once manage() opens it. */
  private log: Log;

  constructor(params?: ProcManagerParams) {
    this.params = resolveParams(validateParams(params));
    checkParamCombinations(this.params);
    this.log = new Log({ logger: this.params.logger, format: this.params.log_format });
  }

  // ---- Manager methods ----------------------------------------------------------------------

  /**
   * In the manager: forks n_processes workers and keeps them alive; never resolves (the manager ends
   * through die() or abort()). In a worker, or with n_processes 0: runs handlingInit() and resolves
   * true, and the caller goes on to serve requests.
   */
  async manage(params?: ProcManagerParams): Promise<boolean> {
    Object.assign(this.params, validateParams(params));
    if (cluster.isWorker || !this.nProcesses) {
      checkParamCombinations(this.params); // a manager's start runs it in preflight(), with the rest
      return this.becomeServer();
    }

    const { preflight, readListenQueue, WorkerPool, StatusCollector, startStatusListener, parseListenSpec, startControlServer, poolControl } = manager();
    const { reportReadinessToStartServer, notifySystemd, startOrphanReaper, trackedChildPids, bootNiceUnavailable, watchNpmParent } = manager();
    // Everything that can fail on bad input fails here, before anything forks: the check pass that
    // `fcgi-pm --check-config` runs too.
    const plan = preflight(this.params);
    const { address, privileges } = plan;
    this.sizingOfPool = plan.sizing;
    this.workerExecArgvValue = privileges.execArgv;
    this.log = this.openLog();
    const compileCache = this.params.compile_cache ? openCompileCache(privileges.owner) : undefined;
    // The user's variables win over the compile cache's folder (theirs wins), never over the privilege drop's.
    this.workerEnvParts = { under: { ...compileCache?.env }, over: privileges.env };
    this.userWorkerEnv = plan.workerEnv;
    this.workerEnvValue = { ...this.workerEnvParts.under, ...plan.workerEnv, ...this.workerEnvParts.over };
    if (this.params.access_log) checkAppendable('access_log', this.params.access_log);
    if (this.params.slowlog) checkAppendable('slowlog', this.params.slowlog);
    const socket = await openManagerSocket(address, plan.socket);
    // An inherited socket keeps the backlog it was opened with (start_server's is 4096): the workers
    // repeat that one.
    if (address.kind === 'fd') socket.backlog = (await readListenQueue(socket.fd))?.backlog ?? socket.backlog;

    const bootNice = this.params.boot_nice;
    this.bootNiceUnavailable = bootNiceUnavailable(); // known now, should a reload turn boot_nice on
    const noBootNice = bootNice > 0 ? this.bootNiceUnavailable : undefined;
    this.bootNiceValue = noBootNice ? 0 : bootNice;
    const pool = (this.pool = new WorkerPool(this, socket));
    // status_path's figures: the scoreboard, and the socket's listen queue.
    const collector = new StatusCollector(socket.fd, { pool: this.params.pm_title, configuredBacklog: socket.backlog });
    this.pool.setStatusSource((board) => collector.snapshot(board));
    const freshSnapshot = async () => collector.snapshot(await pool.freshScoreboard());
    if (this.params.status_listen !== undefined) {
      const where = await startStatusListener(parseListenSpec(this.params.status_listen), {
        paths: () => ({ statusPath: this.params.status_path ?? '/status', pingPath: this.params.ping_path ?? '/ping', pingResponse: this.params.ping_response }),
        snapshot: freshSnapshot,
      });
      this.notify(`status and ping over HTTP on ${where} (status_listen)`);
    }
    if (plan.controlLeftOut) this.warn(plan.controlLeftOut);
    if (plan.control) {
      await startControlServer(plan.control.path, { gid: plan.control.gid }, poolControl(pool, { title: this.params.pm_title, snapshot: freshSnapshot }));
      this.notify(`control socket on ${plan.control.path}`);
    }
    reportReadinessToStartServer(this.pool);
    notifySystemd(pool, {
      log: (msg) => this.warn(msg),
      status: () => {
        const board = pool.scoreboard();
        const accepting = board.handles.filter((h) => h.state === 'accepting').length;
        return `${accepting} of ${board.workers} servers accepting, generation ${board.generation}`;
      },
      // pm = ondemand at rest has no worker and is healthy: connections wait in the backlog.
      healthy: () => !pool.isStopping && (pool.workers === 0 || pool.scoreboard().handles.some((h) => h.state === 'accepting')),
    });
    this.parameter('role', 'manager');
    this.managingInit();
    this.notify('initialized');
    if (privileges.notice) this.logLine(privileges.notice.level, privileges.notice.text);
    if (compileCache) this.notify(`the workers' compile cache is ${compileCache.dir}`);
    // Said only for a value other than the default, which is silently off where it cannot work (the
    // fcgi-pm command passes every parameter, so "given" cannot be told from "default" by presence).
    if (noBootNice && bootNice !== DEFAULT_PARAMS.boot_nice) this.warn(`boot_nice ${bootNice} not used: ${noBootNice}`);
    startOrphanReaper(() => new Set([...pool.pids, ...trackedChildPids()]), (msg) => this.notify(msg));
    watchNpmParent((parent) => {
      this.notify(`the process that started this manager under npx (npm exec; pid ${parent}) has exited; stopping as for TERM`);
      void pool.die('npx exited');
    });
    this.pool.start();
    if (this.params.watch) this.watchFiles(pool, [address.kind === 'unix' ? address.path : undefined, plan.control?.path]);
    return new Promise<never>(() => {});
  }

  /** watch: a change to the app's files is a reload, as HUP makes one. `sockets`: the pool's own. */
  private watchFiles(pool: WorkerPool, sockets: readonly (string | undefined)[]): void {
    // The app's folder: fcgi-pm runs it as the workers' main module; the library's app is this process's.
    const app = cluster.settings.exec ?? process.argv[1] ?? process.cwd();
    const roots = this.params.watch_paths?.map((p) => path.resolve(p)) ?? [path.dirname(path.resolve(app))];
    const { FileWatch } = manager();
    const show = (file: string) => path.relative(process.cwd(), file) || file;
    // The pool's own files change as it runs: writing them must not reload it. That includes a file
    // its stdout or stderr were sent to (`fcgi-pm --watch app.js > app.log`).
    const own = [this.params.log_file, this.params.access_log, this.params.slowlog, this.params.pid_fname, ...sockets, ...outputFiles()];
    new FileWatch(
      roots,
      own.filter((file): file is string => typeof file === 'string').map((file) => path.resolve(file)),
      (first, files) => void pool.requestReload(`watch: ${show(first)} changed${files > 1 ? ` (and ${files - 1} more)` : ''}: reloading`),
      (msg) => this.warn(msg),
    );
    this.notify(`watching ${roots.map(show).join(', ')} for changes (watch)`);
  }

  /**
   * Overridable: prepares the manager. A subclass that overrides it calls super.managingInit(), which
   * handles signals, sets the process title and writes the pid file.
   */
  managingInit(): void {
    if (!this.params.no_signals) {
      for (const name of MANAGER_SIGNALS) process.on(`SIG${name}`, () => this.pool?.handleSignal(name));
    }
    this.changeProcessName(this.params.pm_title);
    this.writePidFile();
  }

  /** Shuts the pool down: TERM every worker, wait, exit with `status` (0); KILL and exit 1 after die_timeout. */
  die(msg = '', status = 0): Promise<never> {
    if (this.pool) return this.pool.die(msg, status);
    this.removePidFile();
    return Promise.resolve(this.exit(`dying: ${msg}`, status));
  }

  /** Where a reload (HUP, `fcgi-pm reload`) reads the parameters anew; see ConfigurationSource. */
  setConfigurationSource(source: ConfigurationSource): void {
    this.configurationSource = source;
  }

  /**
   * Reads the parameters from the configuration source and applies those that can change in place
   * (the table's `reload: 'applies'`); the others are logged as needing a restart. Run by the pool
   * before each reload; what it applied is undone if that reload is abandoned (reloadSettled).
   */
  async reloadConfiguration(): Promise<ConfigurationReload> {
    const source = this.configurationSource;
    if (!source) return { changed: [] };
    const { readNewConfiguration, showValue } = manager();
    let next: Awaited<ReturnType<typeof readNewConfiguration>>;
    try {
      next = await readNewConfiguration(() => source.read(), this.params, this.userWorkerEnv);
    } catch (err) {
      return { refused: (err as Error).message.split('\n')[0]! };
    }
    for (const { name, from, to } of next.needsRestart) {
      this.warn(`${name} is ${showValue(to)} in the configuration now: that needs a restart; running with ${showValue(from)}`);
    }
    const changes = next.applied.map(({ name, from, to }) => `${name} ${showValue(from)} -> ${showValue(to)}`);
    if (next.envChanged && !next.applied.some((c) => c.name === 'env' || c.name === 'env_file')) changes.push(`the variables of env_file ${this.params.env_file ?? ''}`.trimEnd());
    if (changes.length === 0) return { changed: [] };
    // The generation that serves now keeps its configuration until the new one has taken over.
    this.configurationBeforeReload ??= this.runningConfiguration();
    this.applyConfiguration({ params: next.params, sizing: next.plan.sizing, userEnv: next.plan.workerEnv });
    this.notify(`configuration reloaded: ${changes.join(', ')}`);
    return { changed: next.applied.map((c) => c.name) };
  }

  /**
   * The reload that reloadConfiguration() prepared has ended: complete, its configuration stays;
   * abandoned, the configuration of the generation that serves on is put back. Returns the
   * parameters put back.
   */
  reloadSettled(complete: boolean): readonly string[] {
    const before = this.configurationBeforeReload;
    this.configurationBeforeReload = undefined;
    if (complete || !before) return [];
    const restored = (Object.keys(before.params) as (keyof typeof before.params)[]).filter((name) => !isDeepStrictEqual(before.params[name], this.params[name]));
    this.applyConfiguration(before);
    if (restored.length > 0) this.notify(`configuration of the generation that serves on put back: ${restored.join(', ')}`);
    return restored as string[];
  }

  private runningConfiguration(): RunningConfiguration {
    return { params: { ...this.params }, sizing: this.sizingOfPool, userEnv: this.userWorkerEnv };
  }

  private applyConfiguration({ params, sizing, userEnv }: RunningConfiguration): void {
    Object.assign(this.params, params);
    this.sizingOfPool = sizing;
    this.userWorkerEnv = userEnv;
    this.workerEnvValue = { ...this.workerEnvParts.under, ...userEnv, ...this.workerEnvParts.over };
    this.bootNiceValue = this.bootNiceUnavailable ? 0 : this.params.boot_nice;
    this.recycle = undefined;
    this.configurationSource?.applied?.(this.params);
  }

  /** Resolves with the pid of the next worker to exit; -1 where there are no workers. */
  wait(): Promise<number> {
    return this.pool ? this.pool.wait() : Promise.resolve(-1);
  }

  /** Writes this process's pid to `fname` (default: pid_fname). A failure is a warning, as in Perl. */
  writePidFile(fname?: string): void {
    const file = fname || this.params.pid_fname;
    if (!file) return;
    try {
      manager().writePidFileAtomically(file, process.pid);
    } catch (err) {
      this.warn(`open: ${file}: ${(err as Error).message}`);
    }
  }

  /** Removes the pid file (default: pid_fname) if it still holds this process's pid. */
  removePidFile(fname?: string): boolean {
    const file = fname || this.params.pid_fname;
    if (!file) return false;
    try {
      const result = manager().removePidFileIfOurs(file, process.pid);
      if (result === 'not ours') this.warn(`unlink: ${file}: left alone, it holds another pid`);
      return result === 'removed';
    } catch (err) {
      this.warn(`unlink: ${file}: ${(err as Error).message}`);
      return false;
    }
  }

  // ---- Worker (server) methods --------------------------------------------------------------

  /**
   * Overridable: prepares a worker. A subclass that overrides it calls super.handlingInit(), which
   * handles TERM and HUP (graceful exit) and sets the process title.
   */
  handlingInit(): void {
    if (!this.params.no_signals) {
      for (const name of WORKER_STOP_SIGNALS) {
        process.on(`SIG${name}`, () => {
          this.receivedSignal(name, true);
          this.worker().stop(`safe exit after SIG${name}`);
        });
      }
      // Also keeps Node's own USR1 action, which starts the inspector on port 9229, from binding an
      // address nobody asked for when logrotate signals the pool.
      process.on('SIGUSR1', () => {
        this.receivedSignal('USR1', true);
        this.reopenLogs();
      });
    }
    this.changeProcessName(WORKER_TITLE);
  }

  /** A request begins: until the matching postDispatch(), a TERM or HUP waits for it. */
  preDispatch(): void {
    this.worker().requestStarted();
  }

  /** A request has ended: exits now if a TERM or HUP came in meanwhile and nothing else is in flight. */
  postDispatch(): void {
    const worker = this.worker();
    if (this.receivedSignal('TERM')) worker.stop('safe exit after SIGTERM');
    else if (this.receivedSignal('HUP')) worker.stop('safe exit after SIGHUP');
    worker.requestFinished();
  }

  /**
   * Wires a node-fastcgi (or node:http) server into this worker: it listens on the manager's socket
   * (or, with no manager, on `listen` or an inherited fd 0), every request is wrapped in
   * preDispatch()/postDispatch(), and on TERM/HUP it stops accepting, finishes its requests and exits 0.
   */
  async attach(server: net.Server, options: AttachOptions = {}): Promise<void> {
    let attaching = this.attached.get(server);
    if (!attaching) {
      attaching = this.attachOnce(server, options);
      this.attached.set(server, attaching);
    }
    return attaching;
  }

  private async attachOnce(server: net.Server, options: AttachOptions): Promise<void> {
    const fastcgi = options.fastcgi ?? 'worker-path';
    if (!FASTCGI_PATH_CHOICES.includes(fastcgi)) {
      throw new TypeError(`attach: fastcgi must be one of ${FASTCGI_PATH_CHOICES.join(', ')}, got ${String(fastcgi)}`);
    }
    // Before track(): the worker's connection bookkeeping then finds each connection set up.
    if (fastcgi === 'worker-path') applyWorkerPath(server, (msg) => this.warn(msg));
    const worker = this.worker();
    const tracker = worker.track(server, options.dispatch ?? true);
    // A worker told to stop during its warm-up (a newer HUP replaced its release) never begins to
    // accept: it exits a moment later, and the kernel would reset whatever it had accepted unread.
    if (worker.stopping) return;
    await this.listenOn(server);
    if (worker.stopping) return tracker.stopAccepting(); // the TERM came while it began to listen
    worker.accepting = true;
    if (cluster.isWorker) sendToManager({ act: 'fcgi-pm:accepting' });
    flushCompileCache(); // booted: the next workers need not compile it again
  }

  // ---- Common methods -----------------------------------------------------------------------

  /**
   * Sets the title ps(1) shows, and the process name pgrep(1) matches (its first 15 bytes), which
   * is whole even when the command line is too short to hold the title (src/os/process-title.ts).
   */
  changeProcessName(name: string): void {
    setProcessTitle(name);
  }

  /** With no arguments, all signal counts; with `sig`, its count; with `received`, counts one more. */
  receivedSignal(): Record<string, number>;
  receivedSignal(sig: string, received?: boolean): number;
  receivedSignal(sig?: string, received?: boolean): Record<string, number> | number {
    if (!sig) return { ...this.signalCounts };
    if (received) this.signalCounts[sig] = (this.signalCounts[sig] ?? 0) + 1;
    return this.signalCounts[sig] ?? 0;
  }

  /** Reads a parameter, or sets it when `value` is given (validated as in the constructor). */
  parameter(key: string, value?: unknown): unknown {
    if (value !== undefined) Object.assign(this.params, validateParams({ [key]: value }));
    return this.params[key];
  }

  /**
   * Logs `FastCGI: <role> (pid <pid>): <msg>`: on stderr (as Perl), in log_file, or to the logger's
   * info(). warn() and error() write the same line at their levels. `fields` are the event's own,
   * added to its line in log_format json.
   */
  notify(msg: string, fields?: LogFields): void {
    this.logLine('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.logLine('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.logLine('error', msg, fields);
  }

  /**
   * USR1: opens log_file and access_log again under their names, after logrotate has renamed them.
   * In the manager, the workers are sent USR1 too.
   */
  reopenLogs(): void {
    for (const [what, reopen] of [
      ['log_file', () => this.log.reopen()],
      ['access_log', () => this.lifecycle?.accessLog?.reopen()],
      ['slowlog', () => this.lifecycle?.slowlog?.reopen()],
    ] as const) {
      try {
        reopen();
      } catch (err) {
        this.error(`reopen ${what} ${String(this.params[what])}: ${describeFileError(err)}; still writing to the file it had open`);
      }
    }
  }

  /** Exits with `status` (default 0) after logging `msg`; a manager first KILLs any worker left. */
  exit(msg?: string, status = 0): never {
    this.pool?.killRemaining();
    if (msg !== undefined) this.logLine(status === 0 ? 'warn' : 'error', msg);
    process.exit(status);
  }

  /** exit() with a failure status (1 unless another non-zero one is given). */
  abort(msg?: string, status = 1): never {
    return this.exit(msg, status || 1);
  }

  // ---- Parameters ---------------------------------------------------------------------------

  get role(): Role {
    return this.params.role;
  }

  get nProcesses(): number {
    return this.params.n_processes;
  }

  get startDelaySeconds(): number {
    return this.params.start_delay;
  }

  get dieTimeoutSeconds(): number {
    return this.params.die_timeout;
  }

  get reloadSurge(): number {
    return this.params.reload_surge ?? Math.max(1, this.nProcesses);
  }

  get reloadTimeoutSeconds(): number {
    return this.params.reload_timeout;
  }

  /** The workers' stdout and stderr, when they come through the manager's log (log_file or log_timestamps). */
  get workerOutput(): WorkerOutput | undefined {
    if (!this.log.takesWorkerOutput) return undefined;
    return (this.capturedOutput ??= new (manager().WorkerOutput)((stream, lines, pid) => this.log.writeWorkerLines(stream, lines, pid)));
  }

  /** Waits (a bounded time) for the last lines of the workers that have exited. */
  async drainWorkerOutput(): Promise<void> {
    await this.capturedOutput?.drained(WORKER_OUTPUT_DRAIN_MS);
  }

  /** pm: static, or dynamic with its limits (known once manage() has checked them). */
  get sizing(): PoolSizing {
    return this.sizingOfPool;
  }

  get requestTerminateTimeoutSeconds(): number {
    return this.params.request_terminate_timeout;
  }

  get workerTimeoutSeconds(): number {
    return this.params.worker_timeout;
  }

  get reloadWarmupSeconds(): number {
    return this.params.reload_warmup;
  }

  /** boot_nice, or 0 where the manager could not give the priority back (see os/boot-priority). */
  get bootNice(): number {
    return this.bootNiceValue ?? 0;
  }

  /** This worker's recycling limits, its max_requests jittered once per process. */
  get recyclePolicy(): RecyclePolicy {
    return (this.recycle ??= {
      maxRequests: requestLimit(this.params.max_requests, this.params.max_requests_jitter),
      maxMemoryBytes: this.params.max_memory,
    });
  }

  // ---- Internals ----------------------------------------------------------------------------

  private becomeServer(): true {
    this.parameter('role', 'server');
    if (cluster.isWorker) {
      // A worker writes plain lines on its stderr: when the pool has a log_file or timestamps, the
      // manager reads them from a pipe, stamps them, and writes them whole. Should the manager die,
      // that pipe breaks; what is then written is lost, but must not become an exception.
      if (this.params.log_file || this.params.log_timestamps) {
        for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
      }
    } else {
      this.log = this.openLog(); // no manager: this process writes log_file itself
    }
    equipWorker(this.worker(), this.params, (msg) => this.warn(msg));
    this.handlingInit();
    this.notify('initialized');
    if (cluster.isWorker) {
      // node:cluster makes a worker exit at once when the IPC channel to its primary drops; we take
      // that decision ourselves so that the requests in flight are answered first. Perl leaves idle
      // workers behind forever; these exit too.
      cluster.worker!.exitedAfterDisconnect = true;
      process.once('disconnect', () => this.worker().stop('safe exit: manager has died'));
      this.takeOverListenCalls();
    }
    // Installed here, not in the overridable handlingInit(): it is what keeps one error from
    // silently leaving a half-broken worker behind.
    process.on('uncaughtException', (err) => this.worker().uncaughtException(err));
    return true;
  }

  get workerExecArgv(): readonly string[] {
    return this.workerExecArgvValue;
  }

  /** The workers' own node options: max_semi_space's, then node_args (which win). */
  get nodeArgs(): readonly string[] {
    return [...semiSpaceArgs(this.params.max_semi_space), ...this.params.node_args];
  }

  get workerEnv(): Readonly<Record<string, string>> {
    return this.workerEnvValue;
  }

  private logLine(level: LogLevel, msg: string, fields?: LogFields): void {
    this.log.write(level, { role: this.role, pid: process.pid }, msg.replace(/\s*$/, ''), fields);
  }

  /** The log of a process that writes its own: log_file, log_timestamps, log_format or the logger. */
  private openLog(): Log {
    const file = this.params.log_file;
    return openOrThrow('log_file', file, () => new Log({ logger: this.params.logger, file, timestamps: this.params.log_timestamps, format: this.params.log_format }));
  }

  private worker(): WorkerLifecycle {
    return (this.lifecycle ??= new WorkerLifecycle(this));
  }

  /**
   * Makes `server` accept where this process should: in a worker, on the manager's socket (a server
   * that already listens elsewhere is moved there, with a line saying so, so that the pool never
   * serves another address than the one the manager announced); with no manager, on `listen` or an
   * inherited socket, unless the application already made it listen where it wants.
   */
  private async listenOn(server: net.Server): Promise<void> {
    const fd = process.env[WORKER_LISTEN_FD_ENV];
    if (cluster.isWorker) {
      if (fd === undefined) throw new Error(`attach: the manager passed no socket; ${HOW_TO_GIVE_A_SOCKET}`);
      if (server.listening) {
        this.notify(`attach: the server already listens on ${describeServerAddress(server)}; it accepts on the manager's socket instead`);
        server.close(); // stops accepting at once; the connections it has go on
      }
      return listenOnInheritedFd(server, Number(fd), Number(process.env[WORKER_BACKLOG_ENV] ?? DEFAULT_BACKLOG));
    }
    if (server.listening) {
      // No manager announces an address here: the process serves where its application asked.
      return this.notify(`listening on ${describeServerAddress(server)} (the server's own listen())`);
    }
    const address = resolveListenAddress(this.params.listen);
    if (!address) throw new Error(`attach: no socket to listen on; ${HOW_TO_GIVE_A_SOCKET}`);
    this.notify(`listening on ${await listenStandalone(server, address)}`);
  }

  /** In a worker, a FastCGI server's own listen() call attaches it to the manager's socket instead. */
  private takeOverListenCalls(): void {
    takeOverListen(
      (server) => this.attached.has(server) || isNodeFastcgiServer(server),
      (server, call) => {
        const already = this.attached.has(server);
        this.notify(`server.listen(${call}) taken over: ${already ? 'already accepting' : 'accepting'} on the manager's socket instead`);
        this.attach(server).catch((err: Error) => server.emit('error', err));
      },
    );
  }
}

/**
 * `--max-semi-space-size=MIB`, unless 0 or already given to this manager (its own node options, which
 * the workers inherit, or NODE_OPTIONS, which the command line would override).
 */
function semiSpaceArgs(mib: number): string[] {
  const given = (options: readonly string[]) => options.some((o) => /^--max[-_]semi[-_]space[-_]size\b/.test(o));
  if (mib === 0 || given(process.execArgv) || given((process.env.NODE_OPTIONS ?? '').split(/\s+/))) return [];
  return [`--max-semi-space-size=${mib}`];
}

/** The files this process's stdout and stderr write to, if they are files. */
function outputFiles(): string[] {
  const files: string[] = [];
  for (const fd of [1, 2]) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith('/') && fs.statSync(target).isFile()) files.push(target);
    } catch {
      // no /proc, or not a file: nothing to leave out
    }
  }
  return files;
}

function describeServerAddress(server: net.Server): string {
  const address = server.address();
  if (typeof address === 'string') return `unix:${address}`;
  return address ? formatHostPort(address.address, address.port) : 'an unknown address';
}
