'use strict';
// What a new user meets first: the packed package, its types under strict TypeScript, and the README's
// examples and links.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, tempDir } = require('./helpers');

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare'];

test('the packed package ships its types and runs no script when it is installed', () => {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' }));
  const files = packed.files.map((f) => f.path);
  for (const file of ['dist/index.js', 'dist/index.d.ts', 'types/node-fastcgi.d.ts', 'index.mjs', 'bin/start_server.js']) {
    assert.ok(files.includes(file), `${file} is packed`);
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  for (const name of INSTALL_SCRIPTS) assert.equal(manifest.scripts[name], undefined, `no ${name} script (npm warns about it on install)`);
  assert.match(fs.readFileSync(path.join(ROOT, 'dist', 'index.d.ts'), 'utf8'), /<reference path="\.\.\/types\/node-fastcgi\.d\.ts"/);
  // With --enable-source-maps a stack names the TypeScript files: each map's sources are shipped.
  const maps = files.filter((f) => f.endsWith('.js.map'));
  assert.ok(maps.length > 10, 'source maps are packed');
  for (const map of maps) {
    for (const source of JSON.parse(fs.readFileSync(path.join(ROOT, map), 'utf8')).sources) {
      const file = path.posix.normalize(path.posix.join(path.posix.dirname(map), source));
      assert.ok(files.includes(file), `${map} names ${file}, which is not packed`);
    }
  }
});

/** A strict TypeScript project whose node_modules hold this package, node-fastcgi and @types/node. */
function strictProject(source) {
  const dir = tempDir();
  const modules = path.join(dir, 'node_modules');
  fs.mkdirSync(path.join(modules, '@types'), { recursive: true });
  fs.symlinkSync(ROOT, path.join(modules, 'fcgi-procmanager'));
  fs.symlinkSync(path.join(ROOT, 'node_modules', 'node-fastcgi'), path.join(modules, 'node-fastcgi'));
  fs.symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(modules, '@types', 'node'));
  fs.writeFileSync(path.join(dir, 'app.ts'), source);
  const tsconfig = { compilerOptions: { strict: true, noEmit: true, module: 'commonjs', target: 'ES2022', types: ['node'], moduleResolution: 'node', esModuleInterop: true }, files: ['app.ts'] };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  return spawnSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8' });
}

const APP = `
import * as fcgi from 'node-fastcgi';
import { ProcManager } from 'fcgi-procmanager';

async function main(): Promise<void> {
  const pm = new ProcManager({ n_processes: process.env.WORKERS, die_timeout: '30', no_signals: 'false', listen: '/run/app.sock' });
  await pm.manage();
  const server = fcgi.createServer(async (req, res) => {
    const params: Record<string, string> = req.cgiParams;
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(params.SCRIPT_NAME ?? '');
  });
  await pm.attach(server);
}
void main();
`;

test('a strict TypeScript app imports node-fastcgi and passes environment strings, with no TS7016', () => {
  const ok = strictProject(APP);
  assert.equal(ok.status, 0, `tsc failed:\n${ok.stdout}${ok.stderr}`);
  // The types check something: a wrong type is an error.
  const bad = strictProject(APP.replace('const params: Record<string, string> =', 'const params: number ='));
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout, /error TS2322: Type 'Record<string, string>' is not assignable to type 'number'/);
});

test('a TypeScript app run by fcgi-pm, which never imports the library, gets the node-fastcgi types with one reference line', () => {
  const app = `/// <reference types="fcgi-procmanager" />
import * as fcgi from 'node-fastcgi';
fcgi.createServer((req, res) => {
  const uri: string = req.cgiParams.REQUEST_URI ?? '/';
  res.end(uri);
}).listen();
`;
  const withReference = strictProject(app);
  assert.equal(withReference.status, 0, withReference.stdout + withReference.stderr);
  const without = strictProject(app.split('\n').slice(1).join('\n'));
  assert.match(without.stdout, /TS7016: Could not find a declaration file for module 'node-fastcgi'/, 'without the line, strict TypeScript refuses it');
});

test("the README's JavaScript examples are valid as written", () => {
  const blocks = [...README.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 1, 'the README has JavaScript examples');
  const dir = tempDir();
  blocks.forEach((code, i) => {
    const isModule = /^\s*import\s/m.test(code) && !/require\(/.test(code);
    const file = path.join(dir, `example-${i}.${isModule ? 'mjs' : 'cjs'}`);
    fs.writeFileSync(file, code);
    const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
    assert.equal(check.status, 0, `README example ${i + 1} does not parse:\n${code}\n${check.stderr}`);
  });
});

test("the README's relative links point to files in the repository", () => {
  const links = [...README.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)|`((?:docs|examples|bench|src|test|bin|shared)\/[^`\s]+\.(?:md|js|ts|conf))`/g)]
    .map((m) => m[1] ?? m[2])
    .filter((link) => !/^[a-z]+:/.test(link) && !link.includes('*'));
  assert.ok(links.length > 5, `found ${links.length} links`);
  for (const link of links) assert.ok(fs.existsSync(path.join(ROOT, link)), `README links to ${link}, which is not in the repository`);
});
