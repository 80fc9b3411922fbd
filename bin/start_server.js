#!/usr/bin/env node
'use strict';
// start_server: a superdaemon for hot-deploying server programs (see docs/start_server.md).
require('../dist/start-server/cli')
  .main(process.argv.slice(2))
  .then((status) => process.exit(status));
