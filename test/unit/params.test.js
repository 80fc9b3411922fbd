'use strict';
// The parameter table (src/params/table.ts) and what is derived from it: the defaults, the
// environment variables, the names of other managers, and docs/configuration.md. Pure: no process.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { PARAMETERS, KNOWN_PARAMS, DEFAULT_PARAMS, SECTIONS, validateParameter, paramsFromEnv, envName, likelyMeant, resolveParams, validateParams } = require('../../dist/params');
const { parameterReference } = require('../../dist/cli/reference');
const { parameterFlags } = require('../../dist/cli/flags');
const { usage } = require('../../dist/cli/usage');

const REFERENCE = path.join(__dirname, '..', '..', 'docs', 'configuration.md');

test('docs/configuration.md is the reference generated from the table (npm run docs writes it)', () => {
  const inRepository = fs.readFileSync(REFERENCE, 'utf8');
  assert.ok(inRepository.startsWith('<!-- Generated from src/params/table.ts'), 'it says that it is generated, and from what');
  assert.equal(inRepository, parameterReference(), 'docs/configuration.md is stale: run `npm run docs`');
  for (const name of KNOWN_PARAMS) assert.ok(inRepository.includes(`\n### ${name}\n`), `the reference describes ${name}`);
});

test('every default is a value of its own kind, and is what the constructor resolves', () => {
  const resolved = resolveParams({});
  for (const [name, spec] of Object.entries(PARAMETERS)) {
    assert.ok(Object.keys(SECTIONS).includes(spec.section), `${name}: a known section`);
    assert.ok(spec.doc && !spec.doc.endsWith('.'), `${name}: a one-line doc`);
    assert.ok(spec.reload === 'applies' || spec.reload === 'needs restart', `${name}: says whether a reload applies it`);
    if (spec.default === undefined) {
      assert.equal(resolved[name], undefined, `${name} has no default`);
      continue;
    }
    assert.deepEqual(validateParameter(name, spec.default), spec.default, `${name}'s default passes its own check unchanged`);
    assert.deepEqual(resolved[name], spec.default);
    assert.deepEqual(DEFAULT_PARAMS[name], spec.default);
  }
  // The kinds behave as their names say: a switch refuses a number other than 0 and 1, a count a fraction.
  assert.throws(() => validateParameter('no_signals', 2), /no_signals must be true or false/);
  assert.throws(() => validateParameter('n_processes', 1.5), /n_processes must be a whole number/);
  assert.deepEqual(resolveParams(validateParams({ n_processes: '3', extra: 'kept' })).extra, 'kept', "Perl's pm_parameter keeps any key");
});

test('names: flags, variables and the names of other managers are each unique, and suggest the right parameter', () => {
  const flags = parameterFlags();
  const longNames = flags.flatMap((f) => [f.name, ...f.aliases, ...(f.isSwitch ? [`no-${f.name}`] : [])]);
  assert.equal(new Set(longNames).size, longNames.length, 'no flag name is taken twice');
  const variables = KNOWN_PARAMS.map(envName).filter(Boolean);
  assert.equal(new Set(variables).size, variables.length, 'no environment variable is read for two parameters');
  for (const [name, spec] of Object.entries(PARAMETERS)) {
    for (const other of spec.otherNames ?? []) {
      assert.ok(!KNOWN_PARAMS.includes(other), `${other}, another manager's name for ${name}, is not one of ours`);
      assert.equal(likelyMeant(other), name);
      assert.equal(likelyMeant(other.replace(/_/g, '.')), name, "PHP-FPM's spelling with dots too");
    }
  }
});

test('paramsFromEnv: each parameter from its variable, empty ones unset, the library-only ones never', () => {
  const env = { PM_N_PROCESSES: '3', PM_PID_FILE: '/run/x.pid', FCGI_LISTEN: '/run/x.sock', PM_DIE_TIMEOUT: '', PM_LOGGER: 'console', PM_ROLE: 'server', PM_LOG_TIMESTAMPS: 'yes', OTHER: '1' };
  assert.deepEqual(paramsFromEnv(env), { n_processes: '3', pid_fname: '/run/x.pid', listen: '/run/x.sock', log_timestamps: 'yes' });
  assert.equal(envName('pid_fname'), 'PM_PID_FILE');
  assert.equal(envName('max_requests'), 'PM_MAX_REQUESTS');
  assert.equal(envName('logger'), undefined);
});

test('--help: grouped by the sections, each flag once with its placeholder and its default', () => {
  const help = usage(parameterFlags());
  let at = 0;
  for (const title of ['Options', ...Object.values(SECTIONS)]) {
    const next = help.indexOf(`\n${title}:\n`, at);
    assert.ok(next > at || (at === 0 && next >= 0), `the section ${title} comes next`);
    at = next;
  }
  for (const flag of parameterFlags()) {
    const synopsis = new RegExp(`\\n {2}(-${flag.short}, | {4})--${flag.name}${flag.isSwitch ? '' : ` ${flag.placeholder}`}[ \\n]`, 'g');
    assert.equal(help.match(synopsis)?.length, 1, `--${flag.name} once, with its placeholder`);
  }
  assert.match(help, /\n {2}-n, --n-processes N \(or --processes\) +workers to keep alive \(default the number of CPUs in fcgi-pm; 0 in code, which is no manager\)\n/);
  assert.match(help, /\n {6}--reload-timeout SECONDS +seconds a reload's new workers have to accept before it is abandoned; 0: no bound \(default 30\)\n/);
  assert.match(help, /\n {6}--log-timestamps \/ --no-log-timestamps +begin each log line/);
  assert.doesNotMatch(help, / VALUE /, 'every flag that takes a value names what kind');
});
