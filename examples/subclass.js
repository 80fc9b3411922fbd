'use strict';
// Subclassing: override the hooks as in Perl (call super, as Perl's SUPER::managing_init), and make
// the pm_* functions use the subclass with ProcManager.Default (Perl's $FCGI::ProcManager::Default).
//
// Same environment as hello.js (FCGI_LISTEN, PM_N_PROCESSES).

const fcgi = require('node-fastcgi');
const { ProcManager, pm_manage, pm_attach } = require('..');

class CountingManager extends ProcManager {
  managingInit() {
    super.managingInit(); // signals, process title, pid file
    this.notify('managingInit: the manager is about to fork');
  }

  handlingInit() {
    super.handlingInit(); // graceful TERM/HUP, process title
    this.served = 0;
    this.notify('handlingInit: this worker is ready');
  }

  postDispatch() {
    this.served++;
    super.postDispatch();
  }

  notify(msg) {
    super.notify(`[subclass] ${msg}`);
  }
}

ProcManager.Default = CountingManager;

const env = (name) => process.env[name] || undefined;

async function main() {
  await pm_manage({ n_processes: env('PM_N_PROCESSES') ?? 2, listen: env('FCGI_LISTEN') ?? '127.0.0.1:9000' });
  const pm = require('..').defaultProcManager();
  const server = fcgi.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`subclass pid=${process.pid} served=${pm.served}\n`);
  });
  await pm_attach(server);
}

main().catch((err) => {
  console.error(`subclass.js: ${err.message}`);
  process.exit(2);
});
