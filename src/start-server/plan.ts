// The superdaemon's decisions, kept apart from process I/O so each rule is unit-tested in
// milliseconds: the status file, when a restart is done, auto-restart, kill-old-delay, the fds a
// generation finds its sockets at, the readiness lines, envdir contents, and the start backoff.

import type { BackoffPolicy } from '../backoff';

export interface GenerationStatus {
  generation: number;
  pid: number;
}

/** The status file: one `generation:pid` line per running generation, oldest first. */
export function statusFileContent(generations: readonly GenerationStatus[]): string {
  return [...generations]
    .sort((a, b) => a.generation - b.generation)
    .map((g) => `${g.generation}:${g.pid}\n`)
    .join('');
}

/** The generations a status file lists, sorted, each once (as Perl's restart_server reads it). */
export function parseStatusFile(text: string): number[] {
  const generations = new Set<number>();
  for (const line of text.split('\n')) {
    const m = /^(\d+):/.exec(line);
    if (m) generations.add(Number(m[1]));
  }
  return [...generations].sort((a, b) => a - b);
}

/**
 * A restart is done when one generation is left and it is newer than every generation that ran when
 * the HUP was sent. (Perl waits for exactly the next number, and hangs when a failed start used it up.)
 */
export function restartComplete(generations: readonly number[], newestBeforeHup: number): boolean {
  return generations.length === 1 && generations[0]! > newestBeforeHup;
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
