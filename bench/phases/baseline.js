'use strict';
// This build against an earlier one (--baseline-ref, default the release before the scoreboard,
// rolling reloads and logging): the same bench app on each library, in both nginx modes, side by
// side (lib/ab.js). Shows whether what a worker now does per request (scoreboard reports, the
// access-log hook, recycling checks) costs anything on the hot path.
//
// The earlier build comes from `git archive <ref>` into the bench's temporary directory, compiled
// with this checkout's TypeScript and node_modules (a build needs nothing else).

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { compareVariants, abInstances } = require('../lib/ab');
const { ROOT } = require('../lib/peers');

const PREFIX = 'base';

function variants(libraryDir, ref) {
  return [{ key: `ref-${ref}`, env: () => ({ BENCH_LIBRARY: libraryDir }) }, { key: 'this-build' }];
}

function baselineInstances(ids, options) {
  return ids.includes('pm') ? abInstances(PREFIX, variants('', options.baselineRef)) : [];
}

/** Builds `ref` into `dir`; returns its commit. Throws with git's or tsc's message. */
function buildRef(ref, dir) {
  const commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', `${ref}^{commit}`], { encoding: 'utf8' }).trim();
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${commit}" | tar -x -C "${dir}"`]);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { stdio: 'pipe' });
  return commit;
}

async function baselinePhase(ctx, ids, log) {
  if (!ids.includes('pm')) return { skipped: 'backend 3 not run' };
  const ref = ctx.options.baselineRef;
  const dir = path.join(ctx.dir, `library-${ref}`);
  let commit;
  try {
    commit = buildRef(ref, dir);
  } catch (err) {
    const why = String(err.stderr || err.message).trim().split('\n')[0];
    log(`baseline: cannot build ${ref}: ${why}`);
    return { skipped: `cannot build ${ref}: ${why}` };
  }
  log(`baseline: ${ref} (${commit}) built in ${dir}`);
  const result = await compareVariants(ctx, { prefix: PREFIX, variants: variants(dir, ref), log });
  return { ref, commit, ...result };
}

module.exports = { baselinePhase, baselineInstances, buildRef };
