// A manager started through `npx fcgi-pm` (or `npm exec`) has npm as its parent, and npm exits on
// a TERM without passing it on: the manager is left re-parented, still serving, with nobody to stop
// it. A manager started so watches its parent, and is told when that parent is gone (its ppid
// changes). Production should run the bin itself (node_modules/.bin/fcgi-pm), which gets the
// signals directly; this keeps a developer's `npx` from leaving a pool behind.

/** How often the parent is looked for. */
const CHECK_MS = 1_000;

/** Under `npx`/`npm exec`: calls `gone(parent)` once the process that started this one has exited. */
export function watchNpmParent(gone: (parent: number) => void): void {
  if (process.env.npm_command !== 'exec') return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    gone(parent);
  }, CHECK_MS);
  timer.unref();
}
