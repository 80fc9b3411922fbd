// --watch: the app's folders are watched (each folder on its own, node_modules and dot folders left
// out, new folders added as they appear), and a change, once things have been quiet for a moment, is
// reported with the first file that changed. What to do with it (a rolling reload) is the caller's.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** Saving a file is often several writes (an editor's temporary file, a rename): one reload for all. */
export const QUIET_MS = 300;

/** Folders never watched: dependencies and dot folders (.git, .cache). */
export function isWatchedFolderName(name: string): boolean {
  return name !== 'node_modules' && !name.startsWith('.');
}

export class FileWatch {
  private readonly watchers = new Map<string, fs.FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  /** The files changed in this burst, the first first. */
  private readonly burstFiles = new Set<string>();

  /** Watches `roots` (folders, or files); `changed` gets each burst of changes: its first file, and how many. */
  constructor(
    roots: readonly string[],
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
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
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

  private watch(folder: string, wanted: (file: string) => boolean): void {
    if (this.watchers.has(folder)) return;
    let watcher: fs.FSWatcher;
    try {
      watcher = fs.watch(folder, { persistent: false }, (_event, name) => {
        if (name === null) return;
        const file = path.join(folder, name.toString());
        if (!wanted(file)) return;
        // A new folder is watched too; a file is a change.
        let stat: fs.Stats | undefined;
        try {
          stat = fs.statSync(file);
        } catch {
          // removed: a change all the same
        }
        if (stat?.isDirectory()) {
          if (isWatchedFolderName(name.toString())) this.watchTree(file);
          return;
        }
        this.burst(file);
      });
    } catch (err) {
      this.warn(`watch: cannot watch ${folder}: ${(err as Error).message}`);
      return;
    }
    watcher.on('error', () => {
      watcher.close();
      this.watchers.delete(folder);
    });
    this.watchers.set(folder, watcher);
  }

  private burst(file: string): void {
    this.burstFiles.add(file);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const [first] = this.burstFiles;
      const count = this.burstFiles.size;
      this.burstFiles.clear();
      this.changed(first!, count);
    }, QUIET_MS);
    this.timer.unref();
  }
}
