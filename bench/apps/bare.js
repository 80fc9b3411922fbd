'use strict';
// Backend 1: one node-fastcgi process, no manager.   node bench/apps/bare.js SOCKET
const { createHelloServer, socketArg } = require('./hello-server');

createHelloServer().listen(socketArg());
