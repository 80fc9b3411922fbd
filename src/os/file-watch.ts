// --watch: the app's folders are watched (each folder on its own, node_modules and dot folders left
// out, new folders added as they appear), and a burst of changes, once things have been quiet for a
// moment, is reported with its first file and how many there were. The pool's own files (its logs,
// pid file and sockets, and the files logrotate makes of them) are no change. What to do with a
// change (a rolling reload) is the caller's.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** Saving a file is often several writes (an editor's temporary file, a rename): one reload for all. */
export const QUIET_MS = 300;

/** Folders never watched: dependencies and dot folders (.git, .cache). */
export function isWatchedFolderName(name: string): boolean {
  return name !== 'node_modules' && !name.startsWith('.');
}

/** `file` is one of `ignored`, or made from one by logrotate (`pool.log.1`, `pool.log-20261207`). */
export function isIgnored(file: string, ignored: readonly string[]): boolean {
  return ignored.some((own) => file === own || file.startsWith(`${own}.`) || file.startsWith(`${own}-`));
}

type Wanted = (file: string) => boolean;

export class FileWatch {
  /** One watcher per folder, and what of it is wanted (a folder given whole, or files given one by one). */
  private readonly watched = new Map<string, { watcher: fs.FSWatcher; wanted: Wanted[] }>();
  private timer: NodeJS.Timeout | undefined;
  /** The files changed in this burst, the first first. */
  private readonly burstFiles = new Set<string>();

  /**
   * Watches `roots` (folders, or files); `changed` gets each burst of changes: its first file, and
   * how many. `ignored`: absolute paths that are no change.
   */
  constructor(
    roots: readonly string[],
    private readonly ignored: readonly string[],
    private readonly changed: (first: string, files: number) => void,
    private readonly warn: (msg: string) => void,
  ) {
    for (const root of roots) {
      const stat = fs.statSync(root); // a missing root is refused before: see preflight
      if (stat.isDirectory()) this.watchTree(root);
      else this.watch(path.dirname(root), (file) => file === root);
    }
  }

  close(): void {
    clearTimeout(this.timer);
    for (const { watcher } of this.watched.values()) watcher.close();
    this.watched.clear();
  }

  private watchTree(folder: string): void {
    this.watch(folder, () => true);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(folder, { withFileTypes: true });
    } catch {
      return; // gone, or not ours to read
    }
    for (const entry of entries) {
      if (entry.isDirectory() && isWatchedFolderName(entry.name)) this.watchTree(path.join(folder, entry.name));
    }
  }

  private watch(folder: string, wanted: Wanted): void {
    const known = this.watched.get(folder);
    if (known) {
      known.wanted.push(wanted);
      return;
    }
    let watcher: fs.FSWatcher;
    try {
      watcher = fs.watch(folder, { persistent: false }, (_event, name) => {
        if (name !== null) this.onEvent(folder, name.toString());
      });
    } catch (err) {
      this.warn(`watch: cannot watch ${folder}: ${(err as Error).message}`);
      return;
    }
    watcher.on('error', () => {
      watcher.close();
      this.watched.delete(folder);
    });
    this.watched.set(folder, { watcher, wanted: [wanted] });
  }

  private onEvent(folder: string, name: string): void {
    const file = path.join(folder, name);
    if (!this.watched.get(folder)?.wanted.some((wanted) => wanted(file)) || isIgnored(file, this.ignored)) return;
    let isFolder = false;
    try {
      isFolder = fs.statSync(file).isDirectory();
    } catch {
      // removed: a change all the same
    }
    if (isFolder) {
      if (!isWatchedFolderName(name)) return;
      this.watchTree(file); // a new folder, and whatever was put in it already, is a change too
    }
    this.burst(file);
  }

  private burst(file: string): void {
    this.burstFiles.add(file);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      // An editor saves through a temporary file it renames: the file named is one that is still there.
      const files = [...this.burstFiles];
      this.burstFiles.clear();
      const stays = files.filter((file) => fs.existsSync(file));
      this.changed((stays[0] ?? files[0])!, stays.length || files.length);
    }, QUIET_MS);
    this.timer.unref();
  }
}
