// Listening sockets a superdaemon passed to this process through the environment:
// Server::Starter's SERVER_STARTER_PORT (its first socket) and systemd's LISTEN_FDS (fds from 3,
// meant for this process only when LISTEN_PID is its pid).

import { decodeServerStarterPort } from './ports';

/** systemd's first passed fd (SD_LISTEN_FDS_START). */
const SD_LISTEN_FDS_START = 3;

export interface InheritedSocket {
  fd: number;
  /** Where it came from, for the log: 'SERVER_STARTER_PORT 127.0.0.1:5000' or 'LISTEN_FDS'. */
  source: string;
}

/** Pure: the inherited socket that `env` names for process `pid`, if any. */
export function inheritedSocketFromEnv(env: NodeJS.ProcessEnv, pid: number): InheritedSocket | undefined {
  const starter = env.SERVER_STARTER_PORT;
  if (starter !== undefined) {
    const first = decodeServerStarterPort(starter)[0];
    if (first) return { fd: first.fd, source: `SERVER_STARTER_PORT ${first.name}` };
  }
  const count = Number(env.LISTEN_FDS);
  if (Number.isInteger(count) && count > 0 && (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) === pid)) {
    return { fd: SD_LISTEN_FDS_START, source: 'LISTEN_FDS' };
  }
  return undefined;
}

let taken: { socket: InheritedSocket | undefined } | undefined;

/**
 * The inherited socket of this process, decided once. systemd's variables are removed from the
 * environment (as sd_listen_fds(1) does), so the workers forked later do not take them for their own.
 * SERVER_STARTER_PORT stays: workers find their socket through FCGI_PM_LISTEN_FD first, and programs
 * they run may look it up with server_ports().
 */
export function takeInheritedSocket(): InheritedSocket | undefined {
  if (!taken) {
    taken = { socket: inheritedSocketFromEnv(process.env, process.pid) };
    delete process.env.LISTEN_FDS;
    delete process.env.LISTEN_PID;
    delete process.env.LISTEN_FDNAMES;
  }
  return taken.socket;
}
