// The superdaemon: holds the sockets, runs one generation of the server program after another, and
// retires the old generation once the new one is up.
//
// The loop follows Perl's Server::Starter 0.35 (its log lines too, for the scripts that read them),
// written for an event loop: signal handlers and child exits only record what happened and wake the
// loop, and the loop handles one thing at a time, so no handler ever runs in the middle of another.
// Differences: "up" means the program reported readiness (or, for programs that do not, that it lived
// for --interval); one that promised readiness and is not ready within --ready-timeout is stopped; a
// generation that fails to start is retried after a growing delay; a HUP replaces a generation still
// waiting for READY=1; the status file also names the generation being started and the latest failed start
// (for --restart); and only old generations not yet signalled get signal_on_hup.

import type { StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RespawnBackoff } from '../backoff';
import { describeExit } from '../os/exit-status';
import { UsageError, validateStartOptions, type Settings, type StartServerOptions } from './options';
import { Generation } from './generation';
import {
  autoRestartDue,
  childFdLayout,
  envdirValue,
  loopSettings,
  NEVER_UP_STOP_GRACE_MS,
  START_BACKOFF,
  startStep,
  statusFileContent,
  type FailedStart,
  type StartOutcome,
} from './decisions';
import { LockedPidFile } from './pid-lock';
import { encodeServerStarterPort } from './ports';
import { READY_FD_ENV } from './ready';
import { openSockets, type SocketSet } from './sockets';
import { openLogSink, type LogSink } from './log-sink';
import { daemonize, takeDaemonNotifier, type DaemonNotifier } from './daemonize';

/** How often a generation that promised readiness but has not reported it is mentioned in the log. */
const NOT_READY_REMINDER_MS = 30_000;

/**
 * Perl's start_server(): runs until TERM or INT, then signals every generation, waits for them, removes
 * the pid file, status file and unix sockets, and resolves. Rejects with a UsageError on bad options
 * before anything is opened.
 */
export async function startServer(options: StartServerOptions): Promise<void> {
  const settings = validateStartOptions(options);
  if (settings.daemonize) return daemonize(options);
  await new Superdaemon(settings, takeDaemonNotifier()).run();
}

class Superdaemon {
  private log: LogSink = openLogSink(undefined);
  private sockets: SocketSet | undefined;
  private pidFile: LockedPidFile | undefined;
  private statusWritten = false;
  private current: Generation | undefined;
  private starting: Generation | undefined;
  private readonly old = new Map<number, Generation>();
  /** Started but never up, and told to stop (not ready in time, or superseded by a HUP). */
  private readonly neverUp = new Set<Generation>();
  /** The latest failed start since a generation was last up; in the status file for --restart. */
  private lastFailure: FailedStart | undefined;
  private readonly exited: Generation[] = [];
  private generationCount = 0;
  private lastRestartAt = Date.now();
  private hupRequested = false;
  private stopSignal: string | undefined;
  private readonly wakers = new Set<() => void>();
  private readonly backoff = new RespawnBackoff(START_BACKOFF);
  private healthyTimer: NodeJS.Timeout | undefined;
  private readonly baseEnv: NodeJS.ProcessEnv;
  private env: NodeJS.ProcessEnv;
  private serverStarterPort = '';
  private childFds: number[] = [];
  private readyFd = 3;
  private readonly signalHandlers: [NodeJS.Signals, () => void][] = [];

  constructor(
    private readonly settings: Settings,
    private readonly daemonNotifier: DaemonNotifier | undefined,
  ) {
    // As Perl, start_server puts its own settings in its environment, where envdir may override them.
    this.baseEnv = { ...process.env, ...settings.env };
    delete this.baseEnv[READY_FD_ENV];
    this.env = this.loadEnv();
  }

  async run(): Promise<void> {
    try {
      await this.setUp();
    } catch (err) {
      this.daemonNotifier?.failed((err as Error).message);
      await this.tearDown();
      throw err;
    }
    this.daemonNotifier?.started();
    await this.startGeneration();
    for (;;) {
      this.env = this.loadEnv();
      if (this.stopSignal) break;
      const exited = this.exited.shift();
      if (exited) {
        await this.handleDeath(exited);
        continue;
      }
      if (this.hupRequested) {
        this.hupRequested = false;
        this.log.line('received HUP, spawning a new worker');
        await this.restart();
        continue;
      }
      const settings = loopSettings(this.env);
      const due = autoRestartDue(settings, (Date.now() - this.lastRestartAt) / 1000, this.old.size);
      if (due) {
        const forced = due === 'forced' ? 'forced, ' : '';
        this.log.line(`autorestart triggered (${forced}interval=${settings.autoRestartIntervalSeconds})`);
        await this.restart();
        continue;
      }
      await this.sleepUntilWoken(settings.autoRestart ? 1_000 : undefined);
    }
    await this.shutDown(this.stopSignal);
  }

  // ---- Setting up and tearing down --------------------------------------------------------

  /** Everything that can fail on the environment fails here, before any program starts. */
  private async setUp(): Promise<void> {
    const { settings } = this;
    if (settings.dir !== undefined && !isDirectory(settings.dir)) throw new UsageError(`--dir ${settings.dir}: no such directory`);
    // The lock comes first: a second start_server on the same pid file must not touch the sockets.
    if (settings.pidFile) this.pidFile = LockedPidFile.lock(settings.pidFile);
    this.log = openLogSink(settings.logFile);
    this.log.line(`start_server (pid:${process.pid}) starting now...`);
    const specs = [...settings.ports, ...settings.paths];
    this.sockets = await openSockets(specs, settings.backlog);
    const layout = childFdLayout(specs.map((s) => s.fd));
    this.childFds = layout.fds;
    this.readyFd = layout.readyFd;
    this.serverStarterPort = encodeServerStarterPort(specs.map((s, i) => ({ name: s.name, fd: layout.fds[i]! })));
    for (const [i, socket] of this.sockets.sockets.entries()) {
      this.log.line(`listening on ${socket.description} (${socket.spec.name}=${layout.fds[i]})`);
    }
    this.pidFile?.write(process.pid);
    for (const name of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) {
      const handler = () => this.onSignal(name.slice(3));
      process.on(name, handler);
      this.signalHandlers.push([name, handler]);
    }
  }

  private async tearDown(): Promise<void> {
    for (const [name, handler] of this.signalHandlers) process.off(name, handler);
    clearTimeout(this.healthyTimer);
    if (this.statusWritten && this.settings.statusFile) fs.rmSync(this.settings.statusFile, { force: true });
    this.sockets?.close();
    await this.log.close();
    // Last: a `--stop` waiting on the lock returns when this is released.
    this.pidFile?.remove();
  }

  // ---- Events -----------------------------------------------------------------------------

  private onSignal(name: string): void {
    if (name === 'HUP') {
      this.hupRequested = true;
    } else if (this.stopSignal) {
      this.log.line(`received ${name} while stopping; still waiting for the workers`);
    } else {
      this.stopSignal = name;
    }
    this.wakeUp();
  }

  private onGenerationExited(gen: Generation): void {
    // A generation that never came up needs no decision, only a log line; now, not when the loop
    // is free (it may be busy retrying a broken release for a long time).
    if (this.neverUp.delete(gen)) {
      this.log.line(`stopped new worker ${gen.pid} exited, status:${describeExit(gen.exit!.code, gen.exit!.signal)}`);
    } else if (gen !== this.starting) {
      this.exited.push(gen);
    }
    this.writeStatus();
    this.wakeUp();
  }

  private wakeUp(): void {
    for (const wake of [...this.wakers]) wake();
  }

  /** Waits until an event arrives, or `ms` pass. */
  private sleepUntilWoken(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, Math.max(0, ms));
      this.wakers.add(done);
    });
  }

  /** Sleeps `ms` unless a stop signal comes first. */
  private async sleepUnlessStopping(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.stopSignal && Date.now() < until) await this.sleepUntilWoken(until - Date.now());
  }

  // ---- Generations ------------------------------------------------------------------------

  /**
   * Perl's start_worker: starts generations until one is up. A start interrupted by TERM or INT counts
   * as up, as in Perl, so that the shutdown signals it.
   */
  private async startGeneration(): Promise<void> {
    let startNow = false;
    for (;;) {
      if (!startNow) await this.waitOutBackoff();
      startNow = false;
      if (this.stopSignal) return;
      const gen = this.spawnGeneration();
      this.log.line(`starting new worker ${gen.pid}`);
      this.starting = gen;
      this.writeStatus();
      const outcome = await this.waitUntilUp(gen);
      this.starting = undefined;
      if (outcome === 'exited') {
        const status = describeExit(gen.exit!.code, gen.exit!.signal);
        this.log.line(`new worker ${gen.pid} seems to have failed to start, exit status:${status}`);
        this.recordFailedStart(gen, `exited before it was up, status:${status}`);
      } else if (outcome === 'timed-out') {
        const timeout = this.settings.readyTimeoutSeconds;
        this.log.line(`new worker ${gen.pid} is not ready within ${timeout} s (--ready-timeout); stopping it with ${this.settings.signalOnTerm}`);
        this.stopNeverUp(gen);
        this.recordFailedStart(gen, `was not ready within ${timeout} s (--ready-timeout)`);
      } else if (outcome === 'superseded') {
        this.hupRequested = false;
        this.log.line(`received HUP, stopping new worker ${gen.pid} (not ready yet) with ${this.settings.signalOnTerm} and spawning a new worker`);
        this.stopNeverUp(gen);
        startNow = true; // not a failure: no backoff
      } else {
        this.becameUp(gen, outcome);
        return;
      }
    }
  }

  /** The delay after failed starts; a HUP cuts it short (after a broken deploy, the fix is tried at once). */
  private async waitOutBackoff(): Promise<void> {
    const delay = this.backoff.delayMs();
    if (delay === 0) return;
    const failures = this.backoff.quickExits;
    this.log.line(`${failures} worker${failures === 1 ? '' : 's'} in a row failed to start or died soon after; starting again in ${delay / 1000} s`);
    const until = Date.now() + delay;
    while (!this.stopSignal && !this.hupRequested && Date.now() < until) await this.sleepUntilWoken(until - Date.now());
    if (this.hupRequested && !this.stopSignal) {
      this.hupRequested = false;
      this.log.line('received HUP, starting a new worker now');
    }
  }

  private recordFailedStart(gen: Generation, reason: string): void {
    this.backoff.recordExit(0);
    this.lastFailure = { generation: gen.generation, pid: Math.max(0, gen.pid), reason };
    this.writeStatus();
  }

  /** signal_on_term to a generation that never took over, and KILL if it lingers. */
  private stopNeverUp(gen: Generation): void {
    if (gen.exit) return;
    this.neverUp.add(gen);
    gen.closeReadyChannel();
    gen.stop(this.settings.signalOnTerm, NEVER_UP_STOP_GRACE_MS);
  }

  private becameUp(gen: Generation, outcome: StartOutcome): void {
    gen.upAt = Date.now();
    gen.closeReadyChannel();
    this.current = gen;
    this.lastRestartAt = gen.upAt;
    this.lastFailure = undefined;
    this.writeStatus();
    if (outcome === 'ready') this.log.line(`new worker ${gen.pid} is ready`);
    // One that stays up clears the failure count (one that dies soon after counts as a failure).
    clearTimeout(this.healthyTimer);
    this.healthyTimer = setTimeout(() => {
      if (this.current === gen) this.backoff.recordHealthy();
    }, START_BACKOFF.minUptimeMs).unref();
  }

  /** Waits until the start of `gen` has an outcome (see startStep), waking on every event. */
  private async waitUntilUp(gen: Generation): Promise<StartOutcome> {
    let remindAt = gen.spawnedAt + NOT_READY_REMINDER_MS;
    for (;;) {
      const now = Date.now();
      const step = startStep({
        exited: gen.exit !== undefined,
        readiness: gen.readiness,
        stopRequested: this.stopSignal !== undefined,
        hupRequested: this.hupRequested,
        msSinceSpawn: now - gen.spawnedAt,
        intervalMs: this.settings.intervalSeconds * 1000,
        readyTimeoutMs: this.settings.readyTimeoutSeconds * 1000,
      });
      if ('outcome' in step) return step.outcome;
      let wakeAt = now + step.waitMs;
      if (gen.readiness === 'starting') {
        if (now >= remindAt) {
          this.log.line(`new worker ${gen.pid} is not ready after ${Math.round((now - gen.spawnedAt) / 1000)} s; the old workers keep serving`);
          remindAt += NOT_READY_REMINDER_MS;
        }
        wakeAt = Math.min(wakeAt, remindAt);
      }
      await this.sleepUntilWoken(wakeAt - now);
    }
  }

  private spawnGeneration(): Generation {
    this.env = this.loadEnv(); // a fixed release (or envdir) counts from the next try, not the next HUP
    this.generationCount++;
    const env: NodeJS.ProcessEnv = {
      ...this.env,
      SERVER_STARTER_PORT: this.serverStarterPort,
      SERVER_STARTER_GENERATION: String(this.generationCount),
      [READY_FD_ENV]: String(this.readyFd),
    };
    const stdio: StdioOptions = ['inherit', this.log.childOutput, this.log.childOutput];
    this.sockets!.sockets.forEach((socket, i) => (stdio[this.childFds[i]!] = socket.fd));
    stdio[this.readyFd] = 'pipe';
    for (let i = 0; i < stdio.length; i++) stdio[i] ??= 'ignore';
    const spec = { generation: this.generationCount, exec: this.settings.exec, dir: this.settings.dir, env, stdio, readyFd: this.readyFd };
    return new Generation(spec, {
      exited: (gen) => this.onGenerationExited(gen),
      readinessChanged: () => this.wakeUp(),
      execFailed: (_gen, message) => this.log.line(message),
    });
  }

  /** HUP or auto-restart: a new generation, then signal_on_hup to the old ones once it is up. */
  private async restart(): Promise<void> {
    if (this.current) this.old.set(this.current.pid, this.current);
    this.current = undefined;
    await this.startGeneration();
    if (this.stopSignal) return;
    const signal = this.settings.signalOnHup;
    const targets = [...this.old.values()].filter((g) => !g.retired && !g.exit);
    this.log.line(`new worker is now running, sending ${signal} to old workers:${pidList(targets) || 'none'}`);
    const delay = loopSettings(this.env).killOldDelaySeconds;
    if (delay > 0) {
      this.log.line(`sleeping ${delay} secs before killing old workers`);
      await this.sleepUnlessStopping(delay * 1000);
      if (this.stopSignal) return;
    }
    this.log.line('killing old workers');
    for (const gen of targets) {
      gen.retired = true;
      gen.signal(signal);
    }
  }

  /** The loop's side of an exit: restart the current generation, or forget an old one. */
  private async handleDeath(gen: Generation): Promise<void> {
    const status = describeExit(gen.exit!.code, gen.exit!.signal);
    if (gen === this.current) {
      this.log.line(`worker ${gen.pid} died unexpectedly with status:${status}, restarting`);
      this.backoff.recordExit(Date.now() - (gen.upAt ?? gen.spawnedAt));
      this.current = undefined;
      await this.startGeneration();
    } else if (this.old.delete(gen.pid)) {
      this.log.line(`old worker ${gen.pid} died, status:${status}`);
    }
  }

  /** TERM (signal_on_term) or INT (TERM) to every generation, wait for all, clean up. */
  private async shutDown(received: string): Promise<void> {
    const signal = received === 'TERM' ? this.settings.signalOnTerm : 'TERM';
    if (this.current) this.old.set(this.current.pid, this.current);
    this.current = undefined;
    this.log.line(`received ${received}, sending ${signal} to all workers:${pidList([...this.old.values()])}`);
    for (const gen of this.old.values()) gen.signal(signal);
    // Generations that never came up were signalled already, and are killed if they linger.
    while (this.old.size > 0 || this.neverUp.size > 0) {
      const gen = this.exited.shift();
      if (!gen) {
        await this.sleepUntilWoken();
        continue;
      }
      if (this.old.delete(gen.pid)) {
        this.log.line(`worker ${gen.pid} died, status:${describeExit(gen.exit!.code, gen.exit!.signal)}`);
      }
    }
    this.log.line('exiting');
    await this.tearDown();
  }

  // ---- Files ------------------------------------------------------------------------------

  /** The status file, replaced atomically (written to `file.pid`, then renamed over it, as Perl does). */
  private writeStatus(): void {
    const file = this.settings.statusFile;
    if (!file) return;
    const running = [this.current, ...this.old.values()].filter((g): g is Generation => g !== undefined && !g.exit);
    const starting = this.starting && !this.starting.exit && this.starting.pid > 0 ? this.starting : undefined;
    const temp = `${file}.${process.pid}`;
    try {
      fs.writeFileSync(temp, statusFileContent(running, { starting, failed: this.lastFailure }));
      fs.renameSync(temp, file);
      this.statusWritten = true;
    } catch (err) {
      // Perl dies here, leaving its workers behind; a status file is not worth that.
      this.log.line(`failed to write the status file ${file}: ${(err as Error).message}`);
    }
  }

  /** The base environment with envdir applied; reread on every turn of the loop, as in Perl. */
  private loadEnv(): NodeJS.ProcessEnv {
    const dir = this.baseEnv.ENVDIR;
    if (dir === undefined) return this.baseEnv;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return this.baseEnv;
    }
    const env = { ...this.baseEnv };
    for (const name of names) {
      let content: string;
      try {
        content = fs.readFileSync(path.join(dir, name), 'utf8');
      } catch {
        continue; // a directory, or unreadable: Perl skips it too
      }
      const value = envdirValue(name, content);
      if (value !== undefined) env[name] = value;
    }
    return env;
  }
}

function pidList(gens: readonly Generation[]): string {
  return gens
    .map((g) => g.pid)
    .sort((a, b) => a - b)
    .join(',');
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}
