// systemd's notify protocol (Type=notify and Type=notify-reload), following the pool's lifecycle:
// READY=1 once every worker accepts, RELOADING=1 with MONOTONIC_USEC at a HUP and READY=1 again when
// the rolling reload completes or is abandoned, STOPPING=1 at TERM, STATUS= lines with the counts,
// and WATCHDOG=1 every half WATCHDOG_USEC while a worker accepts. The pool knows nothing of systemd.
//
// How the datagrams are sent: Node has no unix datagram sockets, and posix-node's connect() keeps
// only 14 bytes of a unix path (struct sockaddr's sa_data), too few for /run/systemd/notify. So each
// message goes through systemd-notify(1), which ships with systemd wherever NOTIFY_SOCKET can be
// set. It is told --pid=<the manager>, so MAINPID is the manager, and it follows each message with
// BARRIER=1 and waits until the socket's owner has read it, which closes the known race (systemd
// looking up a helper that has already exited; NotifyAccess=all lets it accept the helper at all).
// Messages are sent one at a time, in order.

import { execFile } from 'node:child_process';
import { trackChild } from '../os/child-registry';
import type { WorkerPool } from '../pool/pool';

export interface SystemdNotifyOptions {
  log(msg: string): void;
  /** "2 of 2 servers accepting, generation 1": what STATUS= says. */
  status(): string;
  /** A worker accepts: WATCHDOG=1 is sent only then. */
  healthy(): boolean;
}

/** Follows `pool` when NOTIFY_SOCKET is set; the variables are removed so the workers do not see them. */
export function notifySystemd(pool: WorkerPool, options: SystemdNotifyOptions): void {
  const socket = process.env.NOTIFY_SOCKET;
  const watchdogUsec = Number(process.env.WATCHDOG_USEC ?? 0);
  const watchdogPid = process.env.WATCHDOG_PID;
  for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete process.env[name];
  if (!socket) return;

  let queue = Promise.resolve();
  let failed = false;
  const send = (...assignments: string[]) => {
    queue = queue.then(
      () =>
        new Promise<void>((resolve) => {
          trackChild(execFile('systemd-notify', [`--pid=${process.pid}`, ...assignments], { env: { ...process.env, NOTIFY_SOCKET: socket }, timeout: 5_000 }, (err) => {
            if (err && !failed) {
              failed = true;
              const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'systemd-notify(1) is not installed' : err.message.split('\n')[0];
              options.log(`NOTIFY_SOCKET is set, but notifying systemd failed: ${why}`);
            }
            resolve();
          }));
        }),
    );
  };
  const monotonicUsec = () => String(process.hrtime.bigint() / 1000n); // CLOCK_MONOTONIC, as systemd wants

  pool.on('ready', () => send('READY=1', `STATUS=${options.status()}`));
  pool.on('reloading', () => send('RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`, `STATUS=reloading: ${options.status()}`));
  pool.on('reloaded', () => send('READY=1', `STATUS=${options.status()}`));
  pool.on('reload-abandoned', () => send('READY=1', `STATUS=reload abandoned: ${options.status()}`));
  pool.on('stopping', () => send('STOPPING=1', 'STATUS=stopping'));

  // WATCHDOG_PID names the process the watchdog is for; another pid's means not this one.
  if (watchdogUsec > 0 && (watchdogPid === undefined || Number(watchdogPid) === process.pid)) {
    setInterval(() => {
      if (options.healthy()) send('WATCHDOG=1');
    }, Math.max(50, watchdogUsec / 2000)).unref();
  }
}
