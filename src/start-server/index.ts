// Server::Starter for Node: the start_server superdaemon and the functions a server program uses.

export { startServer } from './superdaemon';
export { restartServer, stopServer } from './control';
export { serverPorts } from './ports';
export type { StartServerOptions, RestartServerOptions } from './options';
