'use strict';
// Perl's functional style: pm_* functions on a default instance, and a request handler that calls
// pm_pre_dispatch()/pm_post_dispatch() itself, as a Perl FastCGI loop does:
//
//   pm_manage(n_processes => 2);
//   while (my $q = CGI::Fast->new) { pm_pre_dispatch(); ...; pm_post_dispatch(); }
//
// Same environment and queries as hello.js (FCGI_LISTEN, PM_N_PROCESSES, ?sleep=S).

const fcgi = require('node-fastcgi');
const { pm_manage, pm_attach, pm_pre_dispatch, pm_post_dispatch } = require('..');

const env = (name) => process.env[name] || undefined;

async function main() {
  await pm_manage({
    n_processes: env('PM_N_PROCESSES') ?? 2,
    pid_fname: env('PM_PID_FILE'),
    listen: env('FCGI_LISTEN') ?? '127.0.0.1:9000',
  });

  const server = fcgi.createServer((req, res) => {
    pm_pre_dispatch();
    const sleep = Number(new URL(req.url, 'http://localhost').searchParams.get('sleep') ?? 0);
    setTimeout(() => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`functional pid=${process.pid}\n`);
      pm_post_dispatch(); // exits here if a TERM or HUP came in meanwhile
    }, sleep * 1000);
  });
  // dispatch: false, because the handler calls pm_pre_dispatch/pm_post_dispatch itself.
  await pm_attach(server, { dispatch: false });
}

main().catch((err) => {
  console.error(`functional.js: ${err.message}`);
  process.exit(2);
});
