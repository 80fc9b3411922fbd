// start_server's pid file, locked as Perl's 0.35 locks it: flock(LOCK_EX) on the open file, held
// until start_server exits. A second start_server on the same file is refused, and `--stop` (ours or
// Perl's) waits for the lock to know that the server has exited.
//
// Node has no flock(), and posix-node has only lockf(), whose fcntl() locks Linux keeps apart from
// flock() locks: a Perl `start_server --stop` would not wait on one. But a flock() lock belongs to
// the open file description, not to the process that took it: so util-linux's flock(1) is run on our
// own fd (passed at its fd 3) and takes the lock for us; it stays ours after flock(1) exits, until our
// fd is closed. Where flock(1) is missing, a pid file whose pid is alive counts as locked.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { isRunning } from '../os/pid-file';

export class PidFileLockedError extends Error {}

export class LockedPidFile {
  private constructor(
    readonly file: string,
    private fd: number | undefined,
    private readonly ino: number,
  ) {}

  /** Opens and locks `file` (created if missing) without truncating it; throws PidFileLockedError. */
  static lock(file: string): LockedPidFile {
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    try {
      const result = spawnSync('flock', ['--nonblock', '--exclusive', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
      const holder = () => readPid(fd);
      if (result.error) {
        // no flock(1): fall back to the liveness of the pid in the file
        const pid = holder();
        if (pid !== undefined && pid !== process.pid && isRunning(pid)) {
          throw new PidFileLockedError(`pid file ${file} names a running process (pid ${pid}); is another start_server running?`);
        }
      } else if (result.status !== 0) {
        const pid = holder();
        throw new PidFileLockedError(
          `pid file ${file} is locked by another start_server${pid === undefined ? '' : ` (pid ${pid})`}`,
        );
      }
      return new LockedPidFile(file, fd, fs.fstatSync(fd).ino);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** Writes `pid` in place: the lock is on this inode, so no rename. */
  write(pid: number): void {
    if (this.fd === undefined) return;
    fs.ftruncateSync(this.fd, 0);
    fs.writeSync(this.fd, `${pid}\n`, 0);
  }

  /** Removes the file (if it is still ours) and releases the lock. */
  remove(): void {
    if (this.fd === undefined) return;
    try {
      if (fs.statSync(this.file).ino === this.ino) fs.unlinkSync(this.file);
    } catch {
      // already gone
    }
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

function readPid(fd: number): number | undefined {
  const buffer = Buffer.alloc(64);
  const n = fs.readSync(fd, buffer, 0, buffer.length, 0);
  const m = /^\s*(\d+)/.exec(buffer.toString('utf8', 0, n));
  return m ? Number(m[1]) : undefined;
}

/** The pid a pid file holds; throws a one-line Error. */
export function readPidFile(file: string): number {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`failed to open file:${file}:${(err as Error).message}`);
  }
  const m = /^\s*(\d+)\s*$/m.exec(text);
  if (!m) throw new Error(`pid file ${file} holds no pid`);
  return Number(m[1]);
}

/**
 * Resolves once the start_server that holds `file` has exited: its flock() is released (what Perl's
 * `--stop` waits for) and its pid is gone (Perl's releases the lock a moment before it exits; a
 * program that runs startServer() as a library may go on for good, hence the bound on that part).
 */
export async function waitUntilUnlocked(file: string, pid: number): Promise<void> {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return waitUntilGone(pid); // removed already: the server is exiting
  }
  try {
    const waited = await new Promise<boolean>((resolve) => {
      const child = spawn('flock', ['--exclusive', '3'], { stdio: ['ignore', 'ignore', 'ignore', fd] });
      child.on('error', () => resolve(false));
      child.on('exit', (code) => resolve(code === 0));
    });
    await waitUntilGone(pid, waited ? LINGER_AFTER_UNLOCK_MS : Infinity);
  } finally {
    fs.closeSync(fd);
  }
}

const LINGER_AFTER_UNLOCK_MS = 5_000;

async function waitUntilGone(pid: number, timeoutMs = Infinity): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}
