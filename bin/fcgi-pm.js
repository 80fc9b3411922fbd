#!/usr/bin/env node
'use strict';
// fcgi-pm: runs an unchanged node-fastcgi app in a pool of workers (fcgi-pm --help).
require('../dist/cli/main')
  .main(process.argv.slice(2))
  .then((status) => process.exit(status));
