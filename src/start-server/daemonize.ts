// --daemonize. Node cannot fork, so the daemon is a new start_server process: the same options
// without --daemonize, started in a new session (setsid, as Perl's fork-setsid-fork), with stdin
// from /dev/null and stdout/stderr to the log file. Unlike Perl's, the starting process waits until
// the daemon holds its sockets and pid file: it exits 0 only then, and with the daemon's error
// otherwise, so a script that runs `start_server --daemonize` learns whether the server started.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { logCommand } from './log-sink';
import { toCommandLine, type StartServerOptions } from './options';

/** Tells the daemon at which fd its starter waits for news. Internal: removed from the environment at once. */
const NOTIFY_FD_ENV = 'FCGI_PM_START_SERVER_NOTIFY_FD';
const STARTED = 'started';

export async function daemonize(options: StartServerOptions): Promise<void> {
  const argv = toCommandLine({ ...options, daemonize: false });
  const logFile = options.log_file!;
  const output = logCommand(logFile) === undefined ? fs.openSync(logFile, 'a') : 'ignore';
  const daemon = spawn(process.execPath, [path.join(__dirname, 'cli.js'), ...argv], {
    detached: true,
    stdio: ['ignore', output, output, 'pipe'],
    env: { ...process.env, [NOTIFY_FD_ENV]: '3' },
  });
  if (typeof output === 'number') fs.closeSync(output);
  const channel = daemon.stdio[3] as Readable;
  const news = await new Promise<string>((resolve) => {
    let text = '';
    channel.setEncoding('utf8');
    channel.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
    channel.on('error', () => {});
    daemon.on('exit', (code, signal) => resolve(`the daemon exited (${signal ?? `status ${code}`}) before it started; see ${logFile}`));
    daemon.on('error', (err) => resolve(`could not start the daemon: ${err.message}`));
  });
  channel.destroy();
  daemon.unref();
  if (news !== STARTED) throw new Error(news.replace(/^failed: /, ''));
}

export interface DaemonNotifier {
  started(): void;
  failed(message: string): void;
}

/** In the daemon: the channel to the process that started it, taken once. */
export function takeDaemonNotifier(): DaemonNotifier | undefined {
  const value = process.env[NOTIFY_FD_ENV];
  delete process.env[NOTIFY_FD_ENV];
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const fd = Number(value);
  let open = true;
  const send = (line: string) => {
    if (!open) return;
    open = false;
    try {
      fs.writeSync(fd, `${line}\n`);
    } catch {
      // the starter is gone
    } finally {
      // Closed before the first generation starts, or the program would inherit it.
      fs.closeSync(fd);
    }
  };
  return { started: () => send(STARTED), failed: (message) => send(`failed: ${message}`) };
}
