// `start_server --restart` and `--stop`: act on a running start_server (ours or Perl's) through its
// pid file and status file.

import * as fs from 'node:fs';
import { validateControlOptions, type RestartServerOptions } from './options';
import { isRunning, readPidFile, waitUntilUnlocked } from './pidfile';
import { parseStatusFile, restartComplete } from './plan';

const POLL_MS = 100;

/**
 * Perl's restart_server(): sends HUP and resolves once the status file lists a single generation,
 * newer than every one that ran before. Rejects if start_server exits first (Perl would wait forever).
 */
export async function restartServer(options: RestartServerOptions): Promise<void> {
  validateControlOptions('restart', options);
  const pidFile = options.pid_file!;
  const statusFile = options.status_file!;
  const pid = readPidFile(pidFile);
  const before = readGenerations(statusFile);
  if (before.length === 0) throw new Error('no active process found in the status file');
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    throw new Error(`failed to send SIGHUP to the server process:${(err as Error).message}`);
  }
  for (;;) {
    await sleep(POLL_MS);
    let generations: number[];
    try {
      generations = readGenerations(statusFile);
    } catch (err) {
      if (!isRunning(pid)) throw new Error(`start_server (pid ${pid}) exited before the restart completed`);
      throw err;
    }
    if (restartComplete(generations, before.at(-1)!)) return;
    if (!isRunning(pid)) throw new Error(`start_server (pid ${pid}) exited before the restart completed`);
  }
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

function readGenerations(statusFile: string): number[] {
  let text: string;
  try {
    text = fs.readFileSync(statusFile, 'utf8');
  } catch (err) {
    throw new Error(`failed to open file:${statusFile}:${(err as Error).message}`);
  }
  return parseStatusFile(text);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
