// `start_server --restart` and `--stop`: act on a running start_server (ours or Perl's) through its
// pid file and status file.

import * as fs from 'node:fs';
import { DEFAULT_READY_TIMEOUT_SECONDS, validateControlOptions, type RestartServerOptions } from './options';
import { isRunning } from '../os/pid-file';
import { readPidFile, waitUntilUnlocked } from './pid-lock';
import { parseStatusSnapshot, restartBaseline, restartProgress, type StatusSnapshot } from './decisions';

const POLL_MS = 100;

/**
 * Perl's restart_server(): sends HUP and resolves once the status file lists a single generation,
 * newer than every one it mentioned before. Rejects, where Perl would wait for ever: when start_server
 * (ours) records that the new generation failed to start; when no newer generation appears within
 * `ready_timeout` of the HUP (Perl's start_server lists one only once it is up); or when start_server
 * exits first.
 */
export async function restartServer(options: RestartServerOptions): Promise<void> {
  validateControlOptions('restart', options);
  const pidFile = options.pid_file!;
  const statusFile = options.status_file!;
  const readyTimeoutSeconds = options.ready_timeout ?? DEFAULT_READY_TIMEOUT_SECONDS;
  const pid = readPidFile(pidFile);
  const before = readSnapshot(statusFile);
  if (before.running.length === 0) throw new Error('no active process found in the status file');
  const baseline = restartBaseline(before);
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    throw new Error(`failed to send SIGHUP to the server process:${(err as Error).message}`);
  }
  const hupAt = Date.now();
  let newerSeen = false;
  for (;;) {
    await sleep(POLL_MS);
    let now: StatusSnapshot;
    try {
      now = readSnapshot(statusFile);
    } catch (err) {
      if (!isRunning(pid)) throw exitedFirst(pid);
      throw err;
    }
    const progress = restartProgress(now, baseline, { newerSeen, secondsSinceHup: (Date.now() - hupAt) / 1000, readyTimeoutSeconds });
    if (progress.kind === 'done') return;
    if (progress.kind === 'failed') throw new Error(progress.message);
    newerSeen = progress.newerSeen;
    if (!isRunning(pid)) throw exitedFirst(pid);
  }
}

function exitedFirst(pid: number): Error {
  return new Error(`start_server (pid ${pid}) exited before the restart completed`);
}

/** Perl's stop_server(): sends TERM and resolves once start_server has exited (its pid file lock is free). */
export async function stopServer(options: RestartServerOptions, log: (line: string) => void = () => {}): Promise<void> {
  validateControlOptions('stop', options);
  const pidFile = options.pid_file!;
  const pid = readPidFile(pidFile);
  log(`stop_server (pid:${process.pid}) stopping now (pid:${pid})...`);
  try {
    process.kill(pid, 'SIGTERM');
  } catch (err) {
    throw new Error(`failed to send SIGTERM to the server process:${(err as Error).message}`);
  }
  await waitUntilUnlocked(pidFile, pid);
}

function readSnapshot(statusFile: string): StatusSnapshot {
  let text: string;
  try {
    text = fs.readFileSync(statusFile, 'utf8');
  } catch (err) {
    throw new Error(`failed to open file:${statusFile}:${(err as Error).message}`);
  }
  return parseStatusSnapshot(text);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
