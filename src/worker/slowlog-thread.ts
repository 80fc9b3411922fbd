// The slow-log thread of one worker (request_slowlog_timeout): it reads the requests in flight from
// shared memory (slowlog-board.ts) and writes one entry for each that has run longer than the
// timeout. When the main thread's event loop is blocked, which is the case that matters, the entry
// has the main thread's JavaScript stack: the thread attaches to it with the inspector
// (Session.connectToMainThread; no port is opened), pauses it with Debugger.pause, which V8 honours
// even in a busy loop, reads the call frames and resumes it at once. When the loop is not blocked,
// the request is waiting (for I/O, a timer, a promise), and the entry says so instead of showing a
// stack that has nothing to do with it.

import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';
import { compileStrftime } from '../log/strftime';
import { SlowlogBoard, type SlotView } from './slowlog-board';

export interface SlowlogThreadData {
  buffer: SharedArrayBuffer;
  timeoutMs: number;
  /** The main thread's loop counts as blocked once its tick is older than this. */
  blockedAfterMs: number;
  checkEveryMs: number;
  /** Where entries go: a file, or fd 2 (the worker's stderr, which the manager's log may take in). */
  file: string | undefined;
  pool: string;
  pid: number;
}

/** How long reading the main thread's stack may take before the entry goes without it. */
const STACK_TIMEOUT_MS = 2_000;
/** The frames an entry shows. */
const MAX_FRAMES = 30;

const data = workerData as SlowlogThreadData;
const board = new SlowlogBoard(data.buffer);
const stamp = compileStrftime('%d-%b-%Y %H:%M:%S');
let fd = data.file ? fs.openSync(data.file, 'a') : 2;
const logged = new Set<number>();
let checking = false;

parentPort?.on('message', (message: unknown) => {
  if (message !== 'reopen' || !data.file) return;
  try {
    const reopened = fs.openSync(data.file, 'a');
    fs.closeSync(fd);
    fd = reopened;
  } catch (err) {
    write(`slowlog ${data.file}: ${(err as Error).message}; still writing to the file it had open\n`);
  }
});

setInterval(() => {
  if (checking) return;
  checking = true;
  check().finally(() => (checking = false));
}, data.checkEveryMs);

async function check(): Promise<void> {
  const now = Date.now();
  const inFlight = board.inFlight();
  const live = new Set(inFlight.map((r) => r.sequence));
  for (const sequence of logged) if (!live.has(sequence)) logged.delete(sequence);
  const slow = inFlight.filter((r) => !logged.has(r.sequence) && now - r.beganAt >= data.timeoutMs);
  if (slow.length === 0) return;
  for (const r of slow) logged.add(r.sequence);
  const blocked = now - board.lastTick > data.blockedAfterMs;
  const stack = blocked ? await mainThreadStack() : undefined;
  for (const r of slow) {
    board.countSlow();
    write(entry(r, now, blocked, stack));
  }
}

function entry(r: SlotView, now: number, blocked: boolean, stack: string[] | Error | undefined): string {
  const head = `[${stamp(new Date(now))}] [pool ${data.pool}] pid ${data.pid}\nrequest "${r.text}" running for ${((now - r.beganAt) / 1000).toFixed(3)} s; `;
  if (!blocked) return `${head}the event loop is not blocked: the request is waiting (for I/O, a timer or a promise)\n`;
  if (stack instanceof Error || stack === undefined) {
    return `${head}the event loop is blocked; its stack could not be read: ${stack?.message ?? 'no answer'}\n`;
  }
  return `${head}the event loop is blocked, in:\n${stack.map((frame) => `    at ${frame}\n`).join('')}`;
}

interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
}

/** The main thread's call frames, read by pausing it for a moment. */
function mainThreadStack(): Promise<string[] | Error> {
  return new Promise((resolve) => {
    const session = new inspector.Session();
    // V8 leaves a frame's url empty; Debugger.enable announces every script, with its url, first.
    const scripts = new Map<string, string>();
    session.on('Debugger.scriptParsed', (message: { params: { scriptId: string; url: string } }) => {
      scripts.set(message.params.scriptId, message.params.url);
    });
    const done = (result: string[] | Error) => {
      clearTimeout(timer);
      try {
        session.post('Debugger.disable');
        session.disconnect();
      } catch {
        // already gone
      }
      resolve(result);
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${STACK_TIMEOUT_MS} ms`)), STACK_TIMEOUT_MS);
    try {
      session.connectToMainThread();
      session.once('Debugger.paused', (message: { params: { callFrames: CallFrame[] } }) => {
        const frames = message.params.callFrames.slice(0, MAX_FRAMES).map((frame) => describeFrame(frame, scripts));
        session.post('Debugger.resume', () => done(frames));
      });
      session.post('Debugger.enable', (err) => {
        if (err) return done(err);
        session.post('Debugger.pause', (pauseErr) => pauseErr && done(pauseErr));
      });
    } catch (err) {
      done(err as Error);
    }
  });
}

function describeFrame(frame: CallFrame, scripts: ReadonlyMap<string, string>): string {
  const url = frame.url || scripts.get(frame.location.scriptId) || '<anonymous>';
  const where = `${url.replace(/^file:\/\//, '')}:${frame.location.lineNumber + 1}:${frame.location.columnNumber + 1}`;
  return frame.functionName ? `${frame.functionName} (${where})` : where;
}

function write(text: string): void {
  try {
    fs.writeSync(fd, text);
  } catch {
    // nowhere to write: the entry is lost, the worker is not
  }
}
