'use strict';
// A reload (HUP, `fcgi-pm reload`) reads fcgi-pm's --config file again: what can change in place
// applies from that reload on, what cannot is logged as needing a restart, and a file that no longer
// validates is refused with one line while the running configuration stays. The flags still win.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, livePids, fcgiRequest, eventually } = require('../helpers/helpers');
const { startCli, runFcgiPm } = require('../helpers/entry-points');
const { configurationChanges, showValue } = require('../../dist/params/reload-plan');
const { resolveParams } = require('../../dist/params');

const fcgiPm = runFcgiPm;

const envOf = async (pool, name) => (await fcgiRequest(pool.address, { query: `env=${name}` })).body.trim();

test('the reload plan: the table says which changes apply and which need a restart', () => {
  const running = resolveParams({ n_processes: 2, listen: '/run/a.sock', env: { A: '1' } });
  const next = resolveParams({ n_processes: 4, listen: '/run/b.sock', env: { A: '1' }, user: 'www-data' });
  const { applied, needsRestart } = configurationChanges(running, next);
  assert.deepEqual(applied, [{ name: 'n_processes', from: 2, to: 4 }]);
  assert.deepEqual(needsRestart.map((c) => c.name), ['listen', 'user']);
  assert.deepEqual(configurationChanges(running, resolveParams({ ...running, env: { A: '1' } })), { applied: [], needsRestart: [] }, 'equal objects are no change');
  assert.deepEqual([undefined, 4, true, '/a', { A: '1' }].map(showValue), ['unset', '4', 'true', '"/a"', '{"A":"1"}']);
});

test('HUP reads the config file again: sizes, env and recycling apply, the title needs a restart, the flags still win; a broken file is refused', async () => {
  const dir = tempDir();
  const config = path.join(dir, 'pool.json');
  const write = (params) => fs.writeFileSync(config, JSON.stringify(params));
  write({ n_processes: 2, pid_fname: path.join(dir, 'app.pid'), env: { RELEASE: 'one', BY_FLAG: 'file' } });
  const pool = await startCli({ n: null, flags: ['--config', config, '--env', 'BY_FLAG=flag'], listen: path.join(dir, 'fcgi.sock') });
  try {
    assert.equal(livePids(pool).length, 2);
    assert.equal(await envOf(pool, 'RELEASE'), 'RELEASE=one');

    write({ n_processes: 3, pid_fname: path.join(dir, 'app.pid'), env: { RELEASE: 'two', BY_FLAG: 'file' }, max_requests: 500, pm_title: 'app-pool' });
    pool.kill('SIGHUP');
    await pool.waitFor(/reload complete: generation 2, 3 servers accepting/, 30_000);
    const log = pool.lines.join('\n');
    assert.match(log, /configuration reloaded: n_processes 2 -> 3, max_requests 0 -> 500, env \{"RELEASE":"one","BY_FLAG":"flag"\} -> \{"RELEASE":"two","BY_FLAG":"flag"\}/);
    assert.match(log, /pm_title is "app-pool" in the configuration now: that needs a restart; running with "node-fcgi-pm"/);
    assert.ok(await eventually(() => livePids(pool).length === 3, 10_000), 'three workers, once the old ones have drained');
    assert.equal(await envOf(pool, 'RELEASE'), 'RELEASE=two', 'the new generation has the new env');
    assert.equal(await envOf(pool, 'BY_FLAG'), 'BY_FLAG=flag', 'the flag still wins over the file');

    // A file that no longer validates: the reload is refused, nothing changes. The command finds the
    // pool through that same file: only where the pool is, is read of it.
    const workers = livePids(pool).sort();
    write({ n_processes: -1, pid_fname: path.join(dir, 'app.pid') });
    const refused = await fcgiPm(['reload', '--config', config]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^fcgi-pm reload: reload refused: --config .*pool\.json: n_processes must not be negative, got -1\n$/);
    assert.match(pool.lines.join('\n'), /reload refused: --config .*pool\.json: n_processes must not be negative, got -1; the running configuration stays/);
    assert.deepEqual(livePids(pool).sort(), workers, 'the same workers serve');
    fs.writeFileSync(config, '{ not json');
    pool.kill('SIGHUP');
    await pool.waitForNext(/reload refused: --config .*pool\.json: .*JSON.*; the running configuration stays/);
    assert.deepEqual(livePids(pool).sort(), workers);
    assert.doesNotMatch(pool.lines.join('\n'), /generation 3/);
    assert.equal((await fcgiRequest(pool.address)).ok, true);

    // Fixed again: the next reload goes through.
    write({ n_processes: 2, pid_fname: path.join(dir, 'app.pid'), env: { RELEASE: 'three' } });
    const fixed = await fcgiPm(['reload', '--pid-file', path.join(dir, 'app.pid')]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.ok(await eventually(() => livePids(pool).length === 2, 10_000));
    assert.equal(await envOf(pool, 'RELEASE'), 'RELEASE=three');
  } finally {
    pool.kill('SIGTERM');
    await pool.exited;
  }
});

test('an abandoned reload puts the configuration of the generation that serves on back; a size set by scale outlives a reload that does not change it; an env_file edited in place applies', async () => {
  const dir = tempDir();
  const config = path.join(dir, 'pool.json');
  const envFile = path.join(dir, 'app.env');
  const pidFile = path.join(dir, 'app.pid');
  const crashFlag = path.join(dir, 'crash');
  fs.writeFileSync(crashFlag, '');
  const write = (params) => fs.writeFileSync(config, JSON.stringify({ n_processes: 2, pid_fname: pidFile, env_file: envFile, reload_timeout: 20, ...params }));
  fs.writeFileSync(envFile, 'FROM_FILE=1\n');
  write({ env: { RELEASE: 'one' } });
  const pool = await startCli({ n: null, flags: ['--config', config], listen: path.join(dir, 'fcgi.sock') });
  try {
    // A release whose workers die as they load (the fixture exits while the file its variable names exists).
    write({ env: { RELEASE: 'two', CLI_APP_CRASH_ON_START: crashFlag } });
    const abandoned = await fcgiPm(['reload', '--pid-file', pidFile]);
    assert.equal(abandoned.code, 1, abandoned.stdout);
    assert.match(abandoned.stderr, /reload abandoned: generation 2/);
    await pool.waitFor(/configuration of the generation that serves on put back: env$/);
    // A worker of the generation that serves on dies: its replacement has that generation's variables.
    assert.ok(await eventually(() => livePids(pool).length === 2, 10_000), 'the abandoned generation is gone');
    const crashes = pool.count(/exited with status 768/);
    const [victim] = livePids(pool);
    process.kill(victim, 'SIGKILL');
    assert.ok(await eventually(() => livePids(pool).length === 2 && !livePids(pool).includes(victim), 10_000), pool.lines.join('\n'));
    for (let i = 0; i < 4; i++) assert.equal(await envOf(pool, 'RELEASE'), 'RELEASE=one');
    assert.equal(pool.count(/exited with status 768/), crashes, 'the replacement loaded: no worker failed since');

    // scale sets the size; a reload that leaves n_processes as it was keeps it.
    write({ env: { RELEASE: 'one' } });
    assert.equal((await fcgiPm(['scale', '3', '--pid-file', pidFile])).code, 0);
    assert.ok(await eventually(() => livePids(pool).length === 3, 10_000));
    fs.writeFileSync(envFile, 'FROM_FILE=2\n'); // edited in place: the parameter's value is the same name
    const reload = await fcgiPm(['reload', '--pid-file', pidFile]);
    assert.equal(reload.code, 0, reload.stderr);
    assert.match(pool.lines.join('\n'), /configuration reloaded: the variables of env_file .*app\.env/);
    assert.ok(await eventually(() => livePids(pool).length === 3, 10_000), 'still 3 workers');
    assert.equal(await envOf(pool, 'FROM_FILE'), 'FROM_FILE=2');
  } finally {
    pool.kill('SIGTERM');
    await pool.exited;
  }
});
