// The superdaemon's decisions, kept apart from process I/O so each rule is unit-tested in
// milliseconds: the status file, when a restart is done or has failed, when a starting generation is
// up or given up, auto-restart, kill-old-delay, the fds a generation finds its sockets at, the
// readiness lines, envdir contents, and the start backoff.

import type { BackoffPolicy } from '../backoff';

export interface GenerationStatus {
  generation: number;
  pid: number;
}

/** The latest generation that failed to start (exited before it was up, or was not ready in time). */
export interface FailedStart extends GenerationStatus {
  /** Why, as a predicate: "exited before it was up, status:768 (exit code 3)". One line. */
  reason: string;
}

/** What the status file says: Perl's `generation:pid` lines, and our two extra lines. */
export interface StatusSnapshot {
  /** Generations of the `generation:pid` lines (up and running), sorted, each once. */
  running: number[];
  /** `starting:generation:pid`: spawned, not up yet. */
  starting: GenerationStatus | undefined;
  /** `failed:generation:pid:reason`: the latest failed start since a generation was last up. */
  failed: FailedStart | undefined;
}

/**
 * The status file: one `generation:pid` line per running generation, oldest first (all Perl writes
 * and reads); then, ours only, `starting:generation:pid` for the generation not up yet and
 * `failed:generation:pid:reason` for the latest failed start. Perl's restart_server reads only lines
 * matching /^(\d+):/, so it skips the extra ones. A pid of 0 means the exec itself failed.
 */
export function statusFileContent(
  running: readonly GenerationStatus[],
  extra: { starting?: GenerationStatus; failed?: FailedStart } = {},
): string {
  const lines = [...running].sort((a, b) => a.generation - b.generation).map((g) => `${g.generation}:${g.pid}`);
  if (extra.starting) lines.push(`starting:${extra.starting.generation}:${extra.starting.pid}`);
  if (extra.failed) lines.push(`failed:${extra.failed.generation}:${extra.failed.pid}:${oneLine(extra.failed.reason)}`);
  return lines.map((line) => `${line}\n`).join('');
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

/** The generations a status file lists, sorted, each once (as Perl's restart_server reads it). */
export function parseStatusFile(text: string): number[] {
  return parseStatusSnapshot(text).running;
}

/** Every line of a status file, ours or Perl's; lines of no known form are skipped. */
export function parseStatusSnapshot(text: string): StatusSnapshot {
  const running = new Set<number>();
  let starting: GenerationStatus | undefined;
  let failed: FailedStart | undefined;
  for (const line of text.split('\n')) {
    const generation = /^(\d+):/.exec(line);
    const pending = /^starting:(\d+):(\d+)$/.exec(line);
    const failure = /^failed:(\d+):(\d+):(.*)$/.exec(line);
    if (generation) running.add(Number(generation[1]));
    else if (pending) starting = { generation: Number(pending[1]), pid: Number(pending[2]) };
    else if (failure) failed = { generation: Number(failure[1]), pid: Number(failure[2]), reason: failure[3]! };
  }
  return { running: [...running].sort((a, b) => a - b), starting, failed };
}

/**
 * A restart is done when one generation is left and it is newer than every generation that ran when
 * the HUP was sent. (Perl waits for exactly the next number, and hangs when a failed start used it up.)
 */
export function restartComplete(generations: readonly number[], newestBeforeHup: number): boolean {
  return generations.length === 1 && generations[0]! > newestBeforeHup;
}

/**
 * The newest generation the status file mentions in any line: what `--restart` waits to be passed.
 * A generation starting or failed before the HUP is not the one the HUP asked for.
 */
export function restartBaseline(before: StatusSnapshot): number {
  return Math.max(0, ...before.running, before.starting?.generation ?? 0, before.failed?.generation ?? 0);
}

export type RestartProgress =
  | { kind: 'done' }
  | { kind: 'failed'; message: string }
  | { kind: 'waiting'; newerSeen: boolean };

export interface RestartClock {
  /** A generation newer than the baseline has been seen (starting or running) at an earlier poll. */
  newerSeen: boolean;
  secondsSinceHup: number;
  /** --ready-timeout of `--restart`; 0 waits for ever. */
  readyTimeoutSeconds: number;
}

/**
 * `--restart`'s verdict at one poll of the status file. It fails at once when start_server (ours)
 * records a failed start newer than the baseline; and, for a start_server that writes no such line
 * (Perl's), when no newer generation has appeared within --ready-timeout of the HUP. Once a newer one
 * has appeared, it waits for the old ones to drain, for as long as that takes.
 */
export function restartProgress(now: StatusSnapshot, baseline: number, clock: RestartClock): RestartProgress {
  if (restartComplete(now.running, baseline)) return { kind: 'done' };
  const failed = now.failed;
  if (failed && failed.generation > baseline) {
    const pid = failed.pid > 0 ? ` (pid ${failed.pid})` : '';
    return { kind: 'failed', message: `restart failed: new generation ${failed.generation}${pid} ${failed.reason}; the old generation keeps serving` };
  }
  const newerSeen =
    clock.newerSeen || now.running.some((g) => g > baseline) || (now.starting !== undefined && now.starting.generation > baseline);
  const timeout = clock.readyTimeoutSeconds;
  if (!newerSeen && timeout > 0 && clock.secondsSinceHup >= timeout) {
    return {
      kind: 'failed',
      message: `restart failed: no generation newer than ${baseline} appeared in the status file within ${timeout} s of the HUP (--ready-timeout); the old generation keeps serving`,
    };
  }
  return { kind: 'waiting', newerSeen };
}

/** How a generation's start ended: up ('ready', or 'alive' after --interval), or not. */
export type StartOutcome = 'ready' | 'alive' | 'stopping' | 'exited' | 'timed-out' | 'superseded';

/** What the superdaemon knows about the generation it is starting, at one turn of its wait. */
export interface StartState {
  exited: boolean;
  readiness: 'silent' | 'starting' | 'ready';
  /** TERM or INT arrived. */
  stopRequested: boolean;
  /** A HUP arrived since the generation was spawned. */
  hupRequested: boolean;
  msSinceSpawn: number;
  intervalMs: number;
  /** --ready-timeout; 0 waits for ever. */
  readyTimeoutMs: number;
}

/**
 * Whether the start has ended, or how long to wait before asking again. In order: an exit is a
 * failed start; READY=1 is up, whatever else is pending; a stop signal counts as up (as in Perl, so
 * the shutdown signals it); a silent program is up once it has lived --interval (a HUP meanwhile
 * waits for that, as in Perl: the wait is short and bounded); one that promised readiness and is not
 * ready within --ready-timeout has failed; and a HUP supersedes one still waiting for READY=1 (it
 * has not taken over from the old generation, and the wait for it may be long).
 */
export function startStep(s: StartState): { outcome: StartOutcome } | { waitMs: number } {
  if (s.exited) return { outcome: 'exited' };
  if (s.readiness === 'ready') return { outcome: 'ready' };
  if (s.stopRequested) return { outcome: 'stopping' };
  if (s.readiness === 'silent') {
    return s.msSinceSpawn >= s.intervalMs ? { outcome: 'alive' } : { waitMs: s.intervalMs - s.msSinceSpawn };
  }
  if (s.readyTimeoutMs > 0 && s.msSinceSpawn >= s.readyTimeoutMs) return { outcome: 'timed-out' };
  if (s.hupRequested) return { outcome: 'superseded' };
  return { waitMs: s.readyTimeoutMs > 0 ? s.readyTimeoutMs - s.msSinceSpawn : Infinity };
}

/** What the environment (with envdir applied) says, reread on every turn of the loop as in Perl. */
export interface LoopSettings {
  autoRestart: boolean;
  autoRestartIntervalSeconds: number;
  killOldDelaySeconds: number;
}

export function loopSettings(env: Readonly<Record<string, string | undefined>>): LoopSettings {
  const autoRestart = perlTrue(env.ENABLE_AUTO_RESTART);
  // Perl: AUTO_RESTART_INTERVAL ||= 360, so 0 or garbage means 360.
  const interval = perlNumber(env.AUTO_RESTART_INTERVAL);
  const killOldDelay = env.KILL_OLD_DELAY === undefined ? (autoRestart ? 5 : 0) : perlNumber(env.KILL_OLD_DELAY);
  return {
    autoRestart,
    autoRestartIntervalSeconds: interval > 0 ? interval : 360,
    killOldDelaySeconds: Math.max(0, killOldDelay),
  };
}

/** Perl's truth: undefined, '' and '0' are false. */
function perlTrue(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0';
}

/** Perl's numeric value of a string: its leading number, else 0. */
function perlNumber(value: string | undefined): number {
  const m = /^\s*[-+]?(\d+(\.\d*)?|\.\d+)/.exec(value ?? '');
  return m ? Number(m[0]) : 0;
}

export type AutoRestart = 'interval' | 'forced' | undefined;

/**
 * Perl's auto-restart: when the interval has passed and no old generation is still draining; or,
 * forced, after twice the interval whatever is draining.
 */
export function autoRestartDue(settings: LoopSettings, secondsSinceRestart: number, oldGenerationsLeft: number): AutoRestart {
  if (!settings.autoRestart) return undefined;
  const interval = settings.autoRestartIntervalSeconds;
  if (secondsSinceRestart >= interval && oldGenerationsLeft === 0) return 'interval';
  if (secondsSinceRestart >= interval * 2) return 'forced';
  return undefined;
}

/**
 * Where a generation finds its sockets: an explicit `=fd` is kept; the others take the lowest free
 * fds from 3 on, in order (as Perl's own fds are numbered). The readiness pipe takes the next free fd
 * after all of them.
 */
export function childFdLayout(requested: readonly (number | undefined)[]): { fds: number[]; readyFd: number } {
  const taken = new Set(requested.filter((fd): fd is number => fd !== undefined));
  let next = 3;
  const nextFree = () => {
    while (taken.has(next)) next++;
    taken.add(next);
    return next;
  };
  const fds = requested.map((fd) => fd ?? nextFree());
  const readyFd = Math.max(2, ...fds) + 1;
  return { fds, readyFd };
}

/**
 * The readiness channel: a program that was given SERVER_STARTER_READY_FD writes `STARTING=1` when it
 * will report readiness (start_server then waits for it instead of --interval), and `READY=1` once it
 * accepts connections. The form is sd_notify's.
 */
export function parseReadinessLine(line: string): 'starting' | 'ready' | undefined {
  const text = line.trim();
  if (text === 'READY=1') return 'ready';
  if (text === 'STARTING=1') return 'starting';
  return undefined;
}

/**
 * One envdir file: its first line without the newline; an empty file sets nothing (Perl reads a line,
 * and an empty file has none). Names starting with '.' are skipped.
 */
export function envdirValue(name: string, content: string): string | undefined {
  if (name.startsWith('.') || content === '') return undefined;
  const newline = content.indexOf('\n');
  return newline < 0 ? content : content.slice(0, newline);
}

/**
 * The delay before a generation is started again after one that failed to start (died before it was
 * up) or died soon after. Perl retries every --interval forever; with --interval 0 that is a fork loop.
 */
export const START_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 10_000, minUptimeMs: 5_000 };

/**
 * How long a generation told to stop because it never came up (not ready in time, or superseded by a
 * HUP) gets before it is killed. It never took over, so it holds few requests, if any.
 */
export const NEVER_UP_STOP_GRACE_MS = 10_000;
