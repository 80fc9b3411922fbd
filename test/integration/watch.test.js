'use strict';
// --watch: an edit to the app's files is a rolling reload (the log says which file), node_modules and
// dot folders are not watched, and a broken edit keeps the old workers serving until it is fixed.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { livePids, fcgiRequest, sleep, eventually, tempDir } = require('../helpers/helpers');
const { APP_DIR, startCli, runFcgiPm } = require('../helpers/entry-points');
const { isWatchedFolderName, isIgnored } = require('../../dist/os/file-watch');

test('the folders watch leaves out', () => {
  assert.deepEqual(['src', 'node_modules', '.git', '.cache', 'lib'].filter(isWatchedFolderName), ['src', 'lib']);
});

test('--watch: an edit is a reload, saying which file; node_modules and dot folders are not watched; a broken edit keeps the old workers', async () => {
  const dir = APP_DIR();
  const handler = path.join(dir, 'handler.js');
  const original = fs.readFileSync(handler, 'utf8');
  fs.mkdirSync(path.join(dir, '.cache'), { recursive: true });
  const pool = await startCli({ n: 2, flags: ['--watch', '--reload-timeout', '20'] });
  try {
    await pool.waitFor(/watching .* for changes \(watch\)/);
    const first = livePids(pool).sort();

    fs.writeFileSync(handler, `${original}\n// edited\n`);
    await pool.waitFor(/watch: handler\.js changed: reloading/, 10_000);
    await pool.waitFor(/reload complete: generation 2/, 30_000);
    assert.ok(await eventually(() => livePids(pool).every((pid) => !first.includes(pid)), 10_000), 'every worker replaced');
    assert.equal(pool.count(/watch: .* changed/), 1, 'one reload for one save');

    // Not watched: a dependency and a dot folder.
    fs.writeFileSync(path.join(dir, 'node_modules', 'node-fastcgi', 'touched.js'), '');
    fs.writeFileSync(path.join(dir, '.cache', 'x'), '');
    await sleep(1_500);
    assert.equal(pool.count(/watch: .* changed/), 1, pool.lines.filter((l) => /watch:/.test(l)).join('\n'));

    // A new folder is a change, and is watched from then on; several files saved at once are one reload.
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.writeFileSync(path.join(dir, 'lib', 'a.js'), '');
    await pool.waitFor(/watch: lib changed( \(and 1 more\))?: reloading/, 10_000);
    await pool.waitFor(/reload complete: generation 3/, 30_000);
    fs.writeFileSync(path.join(dir, 'lib', 'a.js'), '// 1');
    fs.writeFileSync(path.join(dir, 'lib', 'b.js'), '');
    await pool.waitFor(/watch: lib\/a\.js changed \(and 1 more\): reloading/, 10_000);
    await pool.waitFor(/reload complete: generation 4/, 30_000);

    // A broken edit: the reload is abandoned and generation 4 serves on; the fix goes through.
    assert.ok(await eventually(() => livePids(pool).length === 2, 10_000), 'generation 3 has drained');
    const serving = livePids(pool).sort();
    fs.writeFileSync(handler, `${original}\nthis is not javascript\n`);
    await pool.waitFor(/reload abandoned: generation 5/, 30_000);
    const same = () => JSON.stringify(livePids(pool).sort()) === JSON.stringify(serving);
    assert.ok(await eventually(same, 10_000), `generation 4's workers serve on: ${livePids(pool)} (${serving})`);
    assert.equal((await fcgiRequest(pool.address)).ok, true);
    fs.writeFileSync(handler, original);
    await pool.waitFor(/reload complete: generation 6/, 30_000);
    assert.equal((await fcgiRequest(pool.address)).ok, true);
  } finally {
    fs.writeFileSync(handler, original);
    pool.kill('SIGTERM');
    await pool.exited;
  }
});

test('--watch leaves out the pool\'s own files: a log file in the app\'s folder, and the file its output was sent to', async () => {
  const { spawn } = require('node:child_process');
  const { BIN } = require('../helpers/entry-points');
  assert.equal(isIgnored('/srv/app/pool.log.1', ['/srv/app/pool.log']), true, "logrotate's copies");
  assert.equal(isIgnored('/srv/app/pool.logger.js', ['/srv/app/pool.log']), false);
  const dir = APP_DIR();
  const out = path.join(dir, 'pm.out'); // `fcgi-pm --watch app.js > pm.out 2>&1`
  const fd = fs.openSync(out, 'w');
  const sock = path.join(tempDir(), 's.sock');
  const pm = spawn(process.execPath, [BIN, '-n', '1', '--watch', '--log-file', path.join(dir, 'pool.log'), '--log-timestamps', '-l', sock, 'app.js'], { cwd: dir, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  try {
    const log = () => fs.readFileSync(path.join(dir, 'pool.log'), 'utf8');
    assert.ok(await eventually(() => fs.existsSync(path.join(dir, 'pool.log')) && /ready: 1 server accepting/.test(log()), 20_000));
    // Requests make the pool write its log (their "request started" lines), and output to pm.out.
    for (let i = 0; i < 5; i++) assert.equal((await fcgiRequest(sock)).ok, true);
    fs.appendFileSync(out, 'written to the output file\n');
    await sleep(1_500);
    assert.doesNotMatch(log(), /watch: .* changed/, log());
    // A file of the app's still is a change.
    fs.writeFileSync(path.join(dir, 'extra.js'), '');
    assert.ok(await eventually(() => /watch: extra\.js changed: reloading/.test(log()), 10_000), log());
  } finally {
    pm.kill('SIGTERM');
    await new Promise((resolve) => pm.once('exit', resolve));
  }
});

test('watch_paths must exist and is for watch: refused before anything forks', async () => {
  const run = runFcgiPm;
  const sock = path.join(tempDir(), 's.sock');
  const missing = await run(['--watch', '--watch-paths', 'no-such-dir', '-l', sock, 'app.js']);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, 'fcgi-pm: watch_paths no-such-dir: no such file or folder\n');
  const alone = await run(['--watch-paths', '.', '-l', sock, 'app.js']);
  assert.equal(alone.code, 2);
  assert.equal(alone.stderr, 'fcgi-pm: watch_paths is for watch, which is off\n');
});
