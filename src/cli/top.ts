// `fcgi-pm top`: asks the pool for its status every second over one control connection and draws
// the screen (control/top-screen.ts) in the terminal's alternate screen, which it leaves as it found
// it on q, Ctrl-C or TERM. Not on a terminal, it writes one frame a second, one after the other.

import { ControlConnection, ControlError, EXIT_NOT_RUNNING } from '../control/client';
import { renderTop, requestRates } from '../control/top-screen';
import type { PoolSnapshot } from '../status/snapshot';

const REFRESH_MS = 1_000;
const ENTER = '\x1b[?1049h\x1b[?25l'; // the alternate screen, the cursor hidden
const LEAVE = '\x1b[?25h\x1b[?1049l';
const HOME_AND_CLEAR = '\x1b[H\x1b[2J';

export async function runTop(socketPath: string, timeoutMs: number): Promise<number> {
  const connection = await ControlConnection.open(socketPath);
  const out = process.stdout;
  const terminal = out.isTTY === true;
  let quit: (status: number) => void = () => {};
  const quitting = new Promise<number>((resolve) => (quit = resolve));
  const onKey = (key: Buffer) => {
    if (key.includes(0x03) || key.includes(0x71 /* q */)) quit(0);
  };
  const onSignal = () => quit(0);
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  if (terminal) out.write(ENTER);
  if (process.stdin.isTTY) {
    process.stdin.setRawMode(true);
    process.stdin.on('data', onKey).resume();
  }
  let previous: { snapshot: PoolSnapshot; at: number } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let ended: string | undefined;
  const frame = async () => {
    try {
      const answer = await connection.request({ cmd: 'status' }, timeoutMs);
      if (!answer.ok || answer.cmd !== 'status') throw new Error(answer.ok ? 'not a status answer' : answer.error);
      const at = performance.now();
      const rates = requestRates(previous?.snapshot, answer.pool, previous ? (at - previous.at) / 1000 : 0);
      previous = { snapshot: answer.pool, at };
      const width = out.columns ?? 200;
      const screen = renderTop(answer.manager, answer.pool, rates)
        .split('\n')
        .map((line) => line.slice(0, width))
        .join('\n');
      out.write(terminal ? `${HOME_AND_CLEAR}${screen}` : `${screen}\n\n`);
      timer = setTimeout(() => void frame(), REFRESH_MS);
    } catch (err) {
      // The manager closed the connection: the pool has stopped (LSB's "not running").
      const stopped = connection.isClosed;
      ended = stopped ? 'the pool has stopped' : (err as Error).message;
      quit(stopped ? EXIT_NOT_RUNNING : err instanceof ControlError ? err.exitStatus : 1);
    }
  };
  void frame();
  const status = await quitting;
  clearTimeout(timer);
  connection.close();
  process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  if (process.stdin.isTTY) {
    process.stdin.setRawMode(false);
    process.stdin.off('data', onKey).pause();
  }
  if (terminal) out.write(LEAVE);
  if (ended) process.stderr.write(`fcgi-pm top: ${ended}\n`);
  return status;
}
