// The requests in flight of one worker, in shared memory, so that its slow-log thread can read them
// while the main thread is blocked: a table of slots (when the request began, its method and URI)
// and the time the main thread's event loop last ran. Written by the main thread, read by the
// thread; each slot is published with an Atomics store of its sequence number, last.

const SLOTS = 256;
const TEXT_BYTES = 240;
/** Per slot: sequence (Int32, 0 = free), length (Int32), began (Float64), text. */
const SLOT_BYTES = 8 + 8 + TEXT_BYTES;
/** Header: loop tick (Float64), slow-request count (Int32), overflow count (Int32). */
const HEADER_BYTES = 16;

export const BOARD_BYTES = HEADER_BYTES + SLOTS * SLOT_BYTES;

export interface SlotView {
  sequence: number;
  beganAt: number;
  text: string;
}

export class SlowlogBoard {
  private readonly ints: Int32Array;
  private readonly floats: Float64Array;
  private readonly bytes: Uint8Array;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  private readonly free: number[] = [];
  private nextSequence = 1;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(BOARD_BYTES)) {
    this.ints = new Int32Array(buffer);
    this.floats = new Float64Array(buffer);
    this.bytes = new Uint8Array(buffer);
    for (let slot = SLOTS - 1; slot >= 0; slot--) this.free.push(slot);
  }

  // ---- main thread ----

  /** Records a request that began now; returns its slot, or -1 when every slot is taken. */
  began(text: string, now: number): number {
    const slot = this.free.pop();
    if (slot === undefined) {
      Atomics.add(this.ints, 3, 1);
      return -1;
    }
    const base = HEADER_BYTES + slot * SLOT_BYTES;
    this.floats[(base + 8) / 8] = now;
    const { written } = this.encoder.encodeInto(text, this.bytes.subarray(base + 16, base + 16 + TEXT_BYTES));
    this.ints[base / 4 + 1] = written;
    const sequence = this.nextSequence++;
    if (this.nextSequence > 0x7fffffff) this.nextSequence = 1;
    Atomics.store(this.ints, base / 4, sequence);
    return slot;
  }

  ended(slot: number): void {
    if (slot < 0) return;
    Atomics.store(this.ints, (HEADER_BYTES + slot * SLOT_BYTES) / 4, 0);
    this.free.push(slot);
  }

  /** Called from a timer on the main thread: a stale tick means a blocked event loop. */
  tick(now: number): void {
    this.floats[0] = now;
  }

  get slowRequests(): number {
    return Atomics.load(this.ints, 2);
  }

  // ---- the slow-log thread ----

  get lastTick(): number {
    return this.floats[0]!;
  }

  countSlow(): void {
    Atomics.add(this.ints, 2, 1);
  }

  /** The requests in flight now. */
  inFlight(): SlotView[] {
    const out: SlotView[] = [];
    for (let slot = 0; slot < SLOTS; slot++) {
      const base = HEADER_BYTES + slot * SLOT_BYTES;
      const sequence = Atomics.load(this.ints, base / 4);
      if (sequence === 0) continue;
      const beganAt = this.floats[(base + 8) / 8]!;
      const length = this.ints[base / 4 + 1]!;
      const text = this.decoder.decode(this.bytes.slice(base + 16, base + 16 + length));
      // Read again: a slot reused meanwhile is skipped this round rather than read half old, half new.
      if (Atomics.load(this.ints, base / 4) === sequence) out.push({ sequence, beganAt, text });
    }
    return out;
  }
}
