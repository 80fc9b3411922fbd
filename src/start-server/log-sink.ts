// Where start_server and its server programs write: stderr, a file (--log-file=file, appended), or
// a command's stdin (--log-file="| cmd args", run by sh as Perl's open '|-' does).

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { Writable } from 'node:stream';

export interface LogSink {
  /** One line of start_server's own log. */
  line(text: string): void;
  /** What the server programs get as stdout and stderr. */
  readonly childOutput: number | Writable | 'inherit';
  /** Flushes and closes: for a command, waits until it has read everything and exited. */
  close(): Promise<void>;
}

/** The `cmd` of `| cmd`, or undefined for a file name. */
export function logCommand(logFile: string): string | undefined {
  const m = /^\s*\|\s*([\s\S]*)$/.exec(logFile);
  return m ? m[1] : undefined;
}

export function openLogSink(logFile: string | undefined): LogSink {
  if (logFile === undefined) {
    return {
      line: (text) => process.stderr.write(`${text}\n`),
      childOutput: 'inherit',
      close: async () => {},
    };
  }
  const command = logCommand(logFile);
  if (command === undefined) {
    let fd: number | undefined = fs.openSync(logFile, 'a');
    return {
      line: (text) => {
        if (fd !== undefined) fs.writeSync(fd, `${text}\n`);
      },
      childOutput: fd,
      close: async () => {
        if (fd !== undefined) fs.closeSync(fd);
        fd = undefined;
      },
    };
  }
  return commandSink(command);
}

function commandSink(command: string): LogSink {
  // Its own process group is not wanted: a Ctrl-C should reach the log command as it reaches Perl's.
  const logger: ChildProcess = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'inherit', 'inherit'] });
  const input = logger.stdin!;
  input.on('error', () => {}); // the command exited early: lines are lost, start_server goes on
  const exited = new Promise<void>((resolve) => {
    logger.on('exit', () => resolve());
    logger.on('error', () => resolve());
  });
  return {
    line: (text) => {
      if (input.writable) input.write(`${text}\n`);
    },
    childOutput: input,
    close: async () => {
      input.end();
      // A process that still holds the pipe (a daemon the program left behind) keeps the command
      // from seeing EOF; start_server does not wait for it forever.
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    },
  };
}
