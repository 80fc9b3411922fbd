'use strict';
// The backends under test, and how to start each one on a unix socket.
//
//   bare          1  one node-fastcgi process, no manager
//   cluster-rr    2  naive node:cluster pool, workers listen(path) themselves (node's default, round-robin)
//   cluster-none  2n the same pool with cluster.schedulingPolicy = SCHED_NONE
//   pm            3  this project's ProcManager, same app code as 2, via attach() with its defaults
//   pm-asis       3a the same with attach(server, { fastcgi: 'as-is' }): node-fastcgi's own
//                    connection code, exactly as 2 runs it, so 3a/2 is the manager's own overhead
//   pm-patched    3p as 3a, with node-fastcgi's defects 1 and 2 (KEEP_CONN, the stray FCGI_STDERR)
//                    corrected in place: the narrow-patch alternative to attach()'s worker path
//   perl          4  Perl FCGI::ProcManager (bench/apps/hello.pl)
//   php           5  PHP-FPM, pm = static

const fs = require('node:fs');
const path = require('node:path');
const processes = require('./processes');

const APPS = path.join(__dirname, '..', 'apps');

const BACKENDS = {
  bare: { id: 'bare', tag: '1', label: 'bare node-fastcgi (1 process)', peer: 'node', managed: false },
  'cluster-rr': { id: 'cluster-rr', tag: '2', label: 'node:cluster, round-robin', peer: 'node', managed: false },
  'cluster-none': { id: 'cluster-none', tag: '2n', label: 'node:cluster, SCHED_NONE', peer: 'node', managed: false },
  pm: { id: 'pm', tag: '3', label: 'ProcManager (this project)', peer: 'node', managed: true, reloadSignal: 'SIGHUP' },
  'pm-asis': { id: 'pm-asis', tag: '3a', label: "ProcManager, attach() with fastcgi: 'as-is'", peer: 'node', managed: true, reloadSignal: 'SIGHUP' },
  'pm-patched': { id: 'pm-patched', tag: '3p', label: 'ProcManager, node-fastcgi patched in place', peer: 'node', managed: true, reloadSignal: 'SIGHUP' },
  perl: { id: 'perl', tag: '4', label: 'Perl FCGI::ProcManager', peer: 'perl', managed: true, reloadSignal: 'SIGHUP' },
  // PHP-FPM's master reloads on USR2 (and re-executes itself); TERM/INT are its immediate stop, QUIT its graceful one.
  php: { id: 'php', tag: '5', label: 'PHP-FPM (pm = static)', peer: 'phpFpm', managed: true, reloadSignal: 'SIGUSR2' },
};

/** The regex of the manager's line that says every worker accepts, where the backend has one. */
const READY_LINE = { pm: /ready: \d+ servers? accepting/, 'pm-asis': /ready: \d+ servers? accepting/, 'pm-patched': /ready: \d+ servers? accepting/ };

/**
 * Starts backend `id` with `workers` workers on `socket` and resolves once its process is spawned
 * (not yet ready: see waitReady in run.js). Returns { id, def, proc, socket, name }.
 */
function startBackend(id, { name = id, dir, socket, workers, peers, crashAtStart = false, nodeArgs = [], env: extraEnv = {} }) {
  const def = BACKENDS[id];
  if (socket.startsWith('/')) fs.rmSync(socket, { force: true });
  const env = { BENCH_WORKERS: String(workers), ...(crashAtStart ? { BENCH_CRASH_AT_START: '1' } : {}), ...extraEnv };
  let proc;
  switch (id) {
    case 'bare':
      proc = processes.start(name, process.execPath, [...nodeArgs, path.join(APPS, 'bare.js'), socket], { env });
      break;
    case 'cluster-rr':
    case 'cluster-none':
      proc = processes.start(name, process.execPath, [...nodeArgs, path.join(APPS, 'cluster.js'), socket], {
        env: { ...env, BENCH_SCHED: id === 'cluster-none' ? 'none' : 'rr' },
      });
      break;
    case 'pm':
    case 'pm-asis':
    case 'pm-patched':
      proc = processes.start(name, process.execPath, [...nodeArgs, path.join(APPS, 'pm.js'), socket], {
        env: { ...env, ...({ 'pm-asis': { BENCH_FASTCGI: 'as-is' }, 'pm-patched': { BENCH_FASTCGI: 'patched' } }[id] ?? {}) },
      });
      break;
    case 'perl':
      proc = processes.start(name, peers.perl, [path.join(APPS, 'hello.pl'), socket], { env });
      break;
    case 'php': {
      const conf = path.join(dir, `php-fpm-${name}.conf`);
      fs.writeFileSync(conf, phpFpmConf({ dir, name, socket, workers }));
      // -F: stay in the foreground, -y: this pool config only, -R: allowed to run as root.
      const args = ['-F', '-y', conf, ...(process.getuid?.() === 0 ? ['-R'] : [])];
      proc = processes.start(name, peers.phpFpm, args, { env });
      break;
    }
    default:
      throw new Error(`unknown backend ${id}`);
  }
  return { id, def, name, proc, socket, script: id === 'php' ? path.join(APPS, 'hello.php') : undefined };
}

function phpFpmConf({ dir, name, socket, workers }) {
  const lines = [
    '[global]',
    `pid = ${path.join(dir, `php-fpm-${name}.pid`)}`,
    `error_log = ${path.join(dir, `php-fpm-${name}.log`)}`,
    'daemonize = no',
    '',
    `[${name}]`,
    `listen = ${socket}`,
    'listen.mode = 0666',
    'listen.backlog = 511',
    'pm = static',
    `pm.max_children = ${workers}`,
  ];
  if (process.getuid?.() === 0) lines.push('user = root', 'group = root');
  return lines.join('\n') + '\n';
}

/** Which backends can run with the peers found; the others with the reason. */
function availableBackends(ids, peers) {
  const ok = [];
  const skipped = [];
  for (const id of ids) {
    const def = BACKENDS[id];
    if (def.peer === 'perl' && !peers.perl) skipped.push({ id, reason: 'Perl FCGI / FCGI::ProcManager not installed' });
    else if (def.peer === 'phpFpm' && !peers.phpFpm) skipped.push({ id, reason: 'php-fpm not installed' });
    else ok.push(id);
  }
  return { ok, skipped };
}

module.exports = { BACKENDS, READY_LINE, startBackend, availableBackends };
