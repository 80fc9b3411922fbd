'use strict';
// Finds the peer programs and their versions. A missing peer is skipped, and the report says so.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..', '..');

function run(cmd, args) {
  try {
    // Some tools (nginx -v) print their version on stderr.
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    const out = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim();
    return err.status !== null && out ? out : undefined;
  }
}

/** stdout and stderr together, whatever the exit status (`wrk -v` exits 1). */
function runStderr(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.error ? undefined : `${r.stdout}${r.stderr}`.trim();
}

function which(names, dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
  for (const name of names) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      try {
        fs.accessSync(file, fs.constants.X_OK);
        return file;
      } catch {
        // next
      }
    }
  }
  return undefined;
}

function phpFpmBinary() {
  const names = ['php-fpm', 'php-fpm8.2'];
  for (const dir of ['/usr/sbin', '/usr/local/sbin']) {
    try {
      for (const f of fs.readdirSync(dir).sort().reverse()) if (/^php-fpm[\d.]*$/.test(f) && !names.includes(f)) names.push(f);
    } catch {
      // no such dir
    }
  }
  return which(names);
}

/** What is installed: { nginx, wrk, perl, phpFpm, lighttpd, apache } (paths or undefined) and their versions. */
function detectPeers() {
  const nginx = which(['nginx']);
  const wrk = which(['wrk']);
  const perlBin = which(['perl']);
  const perlVersions = perlBin
    ? run(perlBin, ['-MFCGI', '-MFCGI::ProcManager', '-e', 'print "$FCGI::VERSION $FCGI::ProcManager::VERSION"'])
    : undefined;
  const perlOk = perlVersions !== undefined && /^[\d.]+ [\d.]+$/.test(perlVersions);
  const phpFpm = phpFpmBinary();
  // The fronts phase's web servers besides nginx.
  const lighttpd = which(['lighttpd']);
  const apacheBin = which(['apache2', 'httpd']);
  const apacheModules = ['/usr/lib/apache2/modules', '/usr/lib64/httpd/modules', '/usr/lib/httpd/modules'].find((dir) => fs.existsSync(path.join(dir, 'mod_proxy_fcgi.so')));
  const apache = apacheBin && apacheModules ? apacheBin : undefined;
  const missing = [];
  if (!nginx) missing.push('nginx (Debian: nginx-light or nginx)');
  if (!wrk) missing.push('wrk');
  if (!perlOk) missing.push('Perl FCGI and FCGI::ProcManager (Debian: libfcgi-perl libfcgi-procmanager-perl)');
  if (!phpFpm) missing.push('php-fpm (Debian: php-fpm)');
  if (!lighttpd) missing.push('lighttpd (Debian: lighttpd)');
  if (!apache) missing.push('Apache 2.4 with mod_proxy_fcgi (Debian: apache2)');
  return {
    nginx,
    wrk,
    perl: perlOk ? perlBin : undefined,
    phpFpm,
    lighttpd,
    apache,
    apacheModules,
    missing,
    versions: {
      node: process.version,
      nodeFastcgi: require(require.resolve('node-fastcgi/package.json', { paths: [ROOT] })).version,
      project: `${require(path.join(ROOT, 'package.json')).version} (${gitDescribe()})`,
      nginx: nginx ? runStderr(nginx, ['-v'])?.replace(/^nginx version: /, '') : undefined,
      wrk: wrk ? runStderr(wrk, ['-v'])?.split('\n')[0].replace(/\s+Copyright.*$/, '') : undefined,
      perl: perlBin ? run(perlBin, ['-e', 'print $^V']) : undefined,
      perlFcgi: perlOk ? perlVersions.split(' ')[0] : undefined,
      perlFcgiProcManager: perlOk ? perlVersions.split(' ')[1] : undefined,
      phpFpm: phpFpm ? run(phpFpm, ['-v'])?.split('\n')[0] : undefined,
      lighttpd: lighttpd ? run(lighttpd, ['-v'])?.split('\n')[0].replace(/ - .*$/, '') : undefined,
      apache: apache ? run(apache, ['-v'])?.split('\n')[0].replace(/^Server version: /, '') : undefined,
    },
  };
}

/** The commit the bench ran on, and whether the tree had changes (read-only git calls). */
function gitDescribe() {
  const head = run('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  if (!head || /fatal/.test(head)) return 'no git';
  const dirty = run('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']);
  return dirty ? `${head}, with uncommitted changes` : head;
}

function machine() {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    arch: os.arch(),
  };
}

module.exports = { detectPeers, machine, ROOT };
