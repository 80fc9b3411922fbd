// The control socket's protocol: one JSON object a line each way, a request and then its answer.
// Every answer says the protocol version and `ok`; a failed one says why in `error`. A client that
// speaks a newer version than the manager gets that said, not a guess. docs/control.md describes it.
// Pure.

import type { PoolSnapshot } from '../status/snapshot';

export const CONTROL_PROTOCOL_VERSION = 1;
/** A request line longer than this is refused (the connection is closed): no request needs more. */
export const MAX_REQUEST_BYTES = 4096;

export type ControlRequest =
  | { cmd: 'status' }
  /** A rolling reload; with wait (the default) answered once it is complete or abandoned. */
  | { cmd: 'reload'; wait: boolean }
  /** A graceful stop; answered as the manager exits, with its exit status. */
  | { cmd: 'stop' }
  /** The pool's size (pm static), or its maximum (pm dynamic and ondemand). */
  | { cmd: 'scale'; workers: number };

export const CONTROL_COMMANDS = ['status', 'reload', 'stop', 'scale'] as const satisfies readonly ControlRequest['cmd'][];

interface Answered {
  v: typeof CONTROL_PROTOCOL_VERSION;
}
export type ControlAnswer = Answered &
  (
    | { ok: false; error: string; generation?: number }
    | { ok: true; cmd: 'status'; manager: { pid: number; title: string }; pool: PoolSnapshot }
    | { ok: true; cmd: 'reload'; generation: number; complete: boolean; seconds?: number }
    | { ok: true; cmd: 'stop'; exitStatus: number }
    | { ok: true; cmd: 'scale'; workers: number; what: 'workers' | 'max_children'; message: string }
  );

/** Distributes Omit over a union, so each member keeps its own fields. */
type OmitVersion<T> = T extends unknown ? Omit<T, 'v'> : never;
export type ControlAnswerBody = OmitVersion<ControlAnswer>;

/** One line of JSON, the version put first. */
export function encodeLine(body: object): string {
  return `${JSON.stringify({ v: CONTROL_PROTOCOL_VERSION, ...body })}\n`;
}

/** Reads one request line; a bad one gives the error to answer with. */
export function parseRequest(line: string): ControlRequest | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: 'not a JSON object: one request a line, such as {"v":1,"cmd":"status"}' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'not a JSON object' };
  const request = value as Record<string, unknown>;
  if (request.v !== CONTROL_PROTOCOL_VERSION) {
    return { error: `protocol version ${JSON.stringify(request.v ?? null)} is not spoken here: this manager speaks version ${CONTROL_PROTOCOL_VERSION}` };
  }
  switch (request.cmd) {
    case 'status':
    case 'stop':
      return { cmd: request.cmd };
    case 'reload':
      if (request.wait !== undefined && typeof request.wait !== 'boolean') return { error: 'reload: wait must be true or false' };
      return { cmd: 'reload', wait: request.wait !== false };
    case 'scale': {
      const workers = request.workers;
      if (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 1) return { error: `scale: workers must be a whole number, 1 or more, got ${JSON.stringify(workers ?? null)}` };
      return { cmd: 'scale', workers };
    }
    default:
      return { error: `unknown command ${JSON.stringify(request.cmd ?? null)}: one of ${CONTROL_COMMANDS.join(', ')}` };
  }
}
