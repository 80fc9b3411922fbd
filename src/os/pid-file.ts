// The manager's pid file: written atomically, removed only while it is still ours.

import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Writes `pid` to `fname` through a temporary file and a rename, so a reader never sees a half-written
 * file. The temporary file is created with O_EXCL (never through an existing file or symlink), and the
 * rename replaces a symlink at `fname` instead of writing through it.
 */
export function writePidFileAtomically(fname: string, pid: number): void {
  const dir = path.dirname(fname);
  const temp = path.join(dir, `.${path.basename(fname)}.${pid}.tmp`);
  try {
    fs.writeFileSync(temp, `${pid}\n`, { flag: 'wx', mode: 0o644 });
    fs.renameSync(temp, fname);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}

export type RemoveResult = 'removed' | 'missing' | 'not ours';

/** Removes `fname` if it holds `pid`; a file that another process has since written is left alone. */
export function removePidFileIfOurs(fname: string, pid: number): RemoveResult {
  let content: string;
  try {
    content = fs.readFileSync(fname, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
  if (content.trim() !== String(pid)) return 'not ours';
  fs.unlinkSync(fname);
  return 'removed';
}

/** Whether a process with this pid runs (EPERM: it does, as another user's). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
