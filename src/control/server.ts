// The manager's end of the control socket: a unix socket that only the manager's owner (and
// control_group) can connect to, since using it is the same power as signalling the pool. Each
// request line is answered by the ControlTarget; a stop is answered as the process exits, with its
// exit status.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { LineSplitter } from '../log/line-splitter';
import { removeOnExit, removeStaleSocket } from '../socket/listen';
import { type ControlAnswerBody, type ControlRequest, encodeLine, MAX_REQUEST_BYTES, parseRequest } from './protocol';

/** What the control socket can do to the pool (wired by the ProcManager). */
export interface ControlTarget {
  answer(request: Exclude<ControlRequest, { cmd: 'stop' }>): Promise<ControlAnswerBody>;
  /** Begins a graceful stop (again: nothing more). */
  stop(): void;
}

/** Only the owner may connect; with a group, its members too. */
const OWNER_ONLY = 0o600;
const OWNER_AND_GROUP = 0o660;

/**
 * Listens on `file`; resolves once it does. Rejects with one line (`control PATH: why`) for a path
 * in use by a running pool, a missing folder, or a group that cannot be set.
 */
export async function startControlServer(file: string, options: { gid: number | undefined }, target: ControlTarget): Promise<void> {
  const where = `control ${file}`;
  try {
    await removeStaleSocket(file);
  } catch (err) {
    const why = (err as Error).message.replace(/^listen: \S+ /, '');
    throw new Error(`${where}: ${/in use by a running server/.test(why) ? 'in use: a running pool answers on it' : why}`);
  }
  const stopping = new Set<net.Socket>();
  const server = net.createServer((socket) => serve(socket, target, stopping));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`${where}: ${err.code === 'ENOENT' ? 'no such folder' : err.message}`)));
    // Bound under umask 0177, so the socket is never connectable by others, not even for a moment.
    const umask = process.umask(0o177);
    try {
      server.listen(file, resolve);
    } finally {
      process.umask(umask);
    }
  });
  removeOnExit(file);
  if (options.gid !== undefined) {
    try {
      fs.chownSync(file, -1, options.gid);
      fs.chmodSync(file, OWNER_AND_GROUP);
    } catch (err) {
      server.close();
      throw new Error(`${where}: control_group: ${(err as Error).message}`);
    }
  } else {
    fs.chmodSync(file, OWNER_ONLY);
  }
  server.unref(); // the pool ends the process, not this
  // A stop is answered last: as the manager exits, whatever ended it (a signal, die_timeout too).
  // A write to a unix socket goes out at once when nothing is queued before it.
  process.once('exit', (status) => {
    for (const socket of stopping) socket.end(encodeLine({ ok: true, cmd: 'stop', exitStatus: status }));
  });
}

function serve(socket: net.Socket, target: ControlTarget, stopping: Set<net.Socket>): void {
  const lines = new LineSplitter(MAX_REQUEST_BYTES);
  let answered = Promise.resolve();
  socket.on('error', () => socket.destroy());
  socket.on('close', () => stopping.delete(socket));
  socket.on('data', (chunk: Buffer) => {
    for (const line of lines.push(chunk)) {
      if (line.length >= MAX_REQUEST_BYTES) return void socket.destroy();
      if (line.trim() === '') continue;
      // Answers go out in the order the requests came.
      answered = answered.then(() => answerLine(line, socket, target, stopping));
    }
  });
}

async function answerLine(line: string, socket: net.Socket, target: ControlTarget, stopping: Set<net.Socket>): Promise<void> {
  const request = parseRequest(line);
  if ('error' in request) return send(socket, { ok: false, error: request.error });
  if (request.cmd === 'stop') {
    stopping.add(socket);
    target.stop();
    return;
  }
  let answer: ControlAnswerBody;
  try {
    answer = await target.answer(request);
  } catch (err) {
    answer = { ok: false, error: (err as Error).message };
  }
  send(socket, answer);
}

function send(socket: net.Socket, answer: ControlAnswerBody): void {
  if (!socket.destroyed) socket.write(encodeLine(answer));
}
