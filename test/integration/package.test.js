'use strict';
// What a new user meets first: the packed package, its types under strict TypeScript, and the examples and
// links of the README, CONTRIBUTING.md and docs/.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, tempDir } = require('../helpers/helpers');

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

/** The markdown a reader follows: the README, CONTRIBUTING.md and every page under docs/ (repository paths). */
const MARKDOWN = ['README.md', 'CONTRIBUTING.md', ...fs.readdirSync(path.join(ROOT, 'docs'), { recursive: true })
  .filter((f) => f.endsWith('.md')).map((f) => path.posix.join('docs', f.split(path.sep).join('/')))];
const read = (file) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The text outside fenced code blocks (a fence may be indented, inside a list). */
function outsideCode(markdown) {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*```/.test(line)) { fenced = !fenced; return ''; }
    return fenced ? '' : line;
  }).join('\n');
}

/** The anchors GitHub makes of a markdown file's headings: its slugs, with -1, -2 for repeats. */
function anchors(markdown) {
  const seen = new Map();
  const result = new Set();
  for (const [, text] of outsideCode(markdown).matchAll(/^#{1,6}[ \t]+(.*?)[ \t#]*$/gm)) {
    const slug = text
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text
      .replace(/[`*]/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    result.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return result;
}

test('the JavaScript examples of the README, CONTRIBUTING.md and docs/ are valid as written', () => {
  const dir = tempDir();
  let count = 0;
  for (const file of MARKDOWN) {
    const blocks = [...read(file).matchAll(/^\s*```js\n([\s\S]*?)^\s*```/gm)].map((m) => m[1]);
    if (file === 'README.md') assert.ok(blocks.length >= 1, 'the README has JavaScript examples');
    blocks.forEach((code, i) => {
      const isModule = /^\s*import\s/m.test(code) && !/require\(/.test(code);
      const name = `${file.replace(/\W/g, '-')}-${i}.${isModule ? 'mjs' : 'cjs'}`;
      fs.writeFileSync(path.join(dir, name), code);
      const check = spawnSync(process.execPath, ['--check', path.join(dir, name)], { encoding: 'utf8' });
      assert.equal(check.status, 0, `${file}: example ${i + 1} does not parse:\n${code}\n${check.stderr}`);
      count++;
    });
  }
  assert.ok(count >= 2, `found ${count} examples`);
});

test('the relative links of the README, CONTRIBUTING.md and docs/ point to files, and to headings that exist', () => {
  assert.ok(MARKDOWN.length > 5, `found ${MARKDOWN.length} markdown files`);
  for (const file of MARKDOWN) {
    const text = outsideCode(read(file));
    const folder = path.posix.dirname(file);
    // [text](target) is relative to the file's own folder; a `repo/path.ext` in backticks names a file from
    // the repository's root, as the docs write paths.
    const links = [
      ...[...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/.test(l))
        .map((l) => { const [target, anchor] = l.split('#'); return { target: target ? path.posix.join(folder, target) : file, anchor, as: l }; }),
      ...[...text.matchAll(/`((?:docs|examples|bench|src|test|bin|shared|types)\/[^`\s]+\.(?:md|js|ts|conf))`/g)].map((m) => m[1])
        .filter((l) => !l.includes('*')).map((l) => ({ target: l, anchor: undefined, as: l })),
    ];
    if (file === 'README.md') assert.ok(links.length > 5, `found ${links.length} links in the README`);
    for (const { target, anchor, as } of links) {
      assert.ok(fs.existsSync(path.join(ROOT, target)), `${file} links to ${as}, which is not in the repository`);
      if (anchor !== undefined && target.endsWith('.md')) {
        assert.ok(anchors(read(target)).has(anchor), `${file} links to ${as}, but ${target} has no heading #${anchor}`);
      }
    }
  }
});

test('the anchors are GitHub slugs of the headings', () => {
  const slugs = anchors("# In code: `manage()` and `attach()`\n```sh\n# not a heading\n```\n## Differences from Perl's start_server 0.35, and why\n## Signals\n### Signals\n");
  assert.deepEqual([...slugs], ['in-code-manage-and-attach', 'differences-from-perls-start_server-035-and-why', 'signals', 'signals-1']);
});

test('the layout drawing in CONTRIBUTING.md names every folder under src/, and only what is there', () => {
  const layout = read('CONTRIBUTING.md').split('\n## Project layout')[1];
  assert.ok(layout, 'CONTRIBUTING.md has a Project layout section');
  const drawing = /```text\n([\s\S]*?)```/.exec(layout)?.[1];
  assert.ok(drawing, 'the Project layout section has a drawing (a ```text block)');
  const folders = fs.readdirSync(path.join(ROOT, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  assert.ok(folders.length >= 5, `src/ has ${folders.length} folders`);
  const named = new Set(drawing.split('\n').map((line) => /^│\s+[├└]── (\S+)/.exec(line)?.[1]).filter(Boolean));
  for (const folder of folders) assert.ok(named.has(`${folder}/`), `the layout drawing in CONTRIBUTING.md does not name src/${folder}/`);
  for (const entry of named) assert.ok(fs.existsSync(path.join(ROOT, 'src', entry)), `the layout drawing names src/${entry}, which is not there`);
});
