// Writes one connection's records. Everything a turn of the event loop produces goes out in one
// system call (a request's headers, body, end of stream and FCGI_END_REQUEST are usually one
// write), and writers wait while the socket holds more than it can take.
//
// Every record carries exactly the bytes it claims: a string's bytes are counted as they are
// encoded, never from Buffer.byteLength's estimate (see exactLength), so that no byte of a buffer
// that was never written (Buffer.allocUnsafe's stale memory: other clients' answers) goes out.

import type * as net from 'node:net';
import { HEADER_LENGTH, MAX_CONTENT_LENGTH, writeHeader } from './protocol';
import { type Slab, SMALL_RECORD, takeSlab } from './slabs';

/** Once a writer has queued this many bytes not yet taken by the kernel, it waits. */
const HIGH_WATER_MARK = 64 * 1024;
/** Chunks up to this size are copied in behind their record header; larger ones are sent in place. */
const COPY_LIMIT = 16 * 1024;
/** Queued records up to this size go out as one buffer. */
const COALESCE_LIMIT = 64 * 1024;

export class RecordWriter {
  private output: Buffer[] = [];
  private outputBytes = 0;
  /** Writers waiting for the queued bytes to reach the kernel. */
  private waiting: Array<() => void> = [];
  private scheduled = false;
  /** Where small records are packed (slabs.ts). */
  private slab: Slab | undefined;
  /** The slabs whose bytes are in `output`: the next flush's writes hold them. */
  private slabsQueued: Slab[] = [];

  constructor(private readonly socket: net.Socket) {}

  /** Bytes queued here or in the socket that the kernel has not taken yet. */
  get backlog(): number {
    return this.outputBytes + this.socket.writableLength;
  }

  /**
   * Queues `chunk` as records of stream `type` (never an empty one: that would end the stream).
   * `callback` runs when the writer may go on: at once for a small chunk (it is copied), once the
   * kernel has the bytes for a large one (sent in place) or when the socket is full.
   */
  writeStream(requestId: number, type: number, chunk: Buffer | string, encoding: BufferEncoding, callback: () => void): void {
    let copied = true;
    if (typeof chunk === 'string') {
      const length = exactLength(chunk, encoding);
      if (length === undefined) {
        copied = this.writeBuffer(type, requestId, Buffer.from(chunk, encoding));
      } else if (length === 0) {
        return callback();
      } else if (length <= MAX_CONTENT_LENGTH) {
        const record = Buffer.allocUnsafe(HEADER_LENGTH + length);
        writeHeader(record, 0, type, requestId, length);
        record.write(chunk, HEADER_LENGTH, length, encoding);
        this.write(record);
      } else {
        copied = this.writeBuffer(type, requestId, Buffer.from(chunk, encoding));
      }
    } else {
      copied = this.writeBuffer(type, requestId, chunk);
    }
    if (copied && this.outputBytes + this.socket.writableLength < HIGH_WATER_MARK) return callback();
    this.waiting.push(callback);
    if (this.outputBytes >= HIGH_WATER_MARK) this.flush();
  }

  /** Queues the empty record that ends stream `type` of a request. */
  writeEndOfStream(requestId: number, type: number): void {
    const record = Buffer.allocUnsafe(HEADER_LENGTH);
    writeHeader(record, 0, type, requestId, 0);
    this.write(record);
  }

  /** Queues whole records. */
  write(records: Buffer): void {
    if (records.length <= SMALL_RECORD) this.pack(records);
    else {
      this.takeSlabRun();
      this.output.push(records);
    }
    this.outputBytes += records.length;
    if (!this.scheduled) {
      this.scheduled = true;
      // After this turn's I/O callbacks and the ticks they start, so that a whole answer goes at once.
      setImmediate(this.flush);
    }
  }

  /** Hands everything queued to the socket now. */
  readonly flush = (): void => {
    this.scheduled = false;
    this.takeSlabRun();
    const output = this.output;
    const waiting = this.waiting;
    if (output.length === 0 && waiting.length === 0) return;
    const bytes = this.outputBytes;
    this.output = [];
    this.outputBytes = 0;
    this.waiting = [];
    const slabs = this.slabsQueued;
    if (slabs.length) this.slabsQueued = [];
    const socket = this.socket;
    if (output.length === 0 || socket.destroyed || socket.writableEnded) return written(waiting, slabs);
    const done = waiting.length || slabs.length ? () => written(waiting, slabs) : undefined;
    if (output.length === 1) socket.write(output[0]!, done);
    else if (bytes <= COALESCE_LIMIT) socket.write(Buffer.concat(output, bytes), done);
    else {
      socket.cork();
      const last = output.length - 1;
      for (let i = 0; i < last; i++) socket.write(output[i]!);
      socket.write(output[last]!, done);
      socket.uncork();
    }
    // The kernel took it all at once: nothing holds the slab's bytes any more, and it is filled again
    // from its start.
    const slab = this.slab;
    if (slab && socket.writableLength === 0) slab.start = slab.end = 0;
  };

  /** The connection is gone: drops what is queued and lets the writers go on (to nothing). */
  discard(): void {
    this.output = [];
    this.outputBytes = 0;
    this.slab?.retire();
    this.slab = undefined;
    const waiting = this.waiting;
    this.waiting = [];
    written(waiting, this.slabsQueued);
    this.slabsQueued = [];
  }

  /** Copies a small record into the slab, behind what is queued there. */
  private pack(records: Buffer): void {
    let slab = this.slab;
    if (!slab || slab.room < records.length) {
      this.takeSlabRun();
      slab?.retire();
      slab = this.slab = takeSlab();
    }
    slab.end += records.copy(slab.bytes, slab.end);
  }

  /** Moves the slab's packed bytes to `output`, keeping the order of the records. */
  private takeSlabRun(): void {
    const slab = this.slab;
    if (!slab || slab.end === slab.start) return;
    this.output.push(slab.bytes.subarray(slab.start, slab.end));
    slab.start = slab.end;
    if (this.slabsQueued[this.slabsQueued.length - 1] !== slab) {
      slab.holds++;
      this.slabsQueued.push(slab);
    }
  }

  /** Returns true if the chunk was copied, false if it is sent in place. */
  private writeBuffer(type: number, requestId: number, data: Buffer): boolean {
    const length = data.length;
    if (length === 0) return true;
    if (length <= COPY_LIMIT) {
      const record = Buffer.allocUnsafe(HEADER_LENGTH + length);
      writeHeader(record, 0, type, requestId, length);
      data.copy(record, HEADER_LENGTH);
      this.write(record);
      return true;
    }
    for (let at = 0; at < length; at += MAX_CONTENT_LENGTH) {
      const piece = data.subarray(at, Math.min(length, at + MAX_CONTENT_LENGTH));
      const header = Buffer.allocUnsafe(HEADER_LENGTH);
      writeHeader(header, 0, type, requestId, piece.length);
      this.write(header);
      this.write(piece);
    }
    return false;
  }
}

/**
 * How many bytes `chunk` encodes to, where Buffer.byteLength says so exactly; undefined where it
 * only estimates (base64, base64url and hex: line breaks, invalid characters and odd lengths make
 * the bytes fewer than the estimate), and the string is then encoded first.
 */
export function exactLength(chunk: string, encoding: BufferEncoding): number | undefined {
  switch (encoding) {
    case 'utf8':
    case 'utf-8':
    case 'latin1':
    case 'binary':
    case 'ascii':
    case 'ucs2':
    case 'ucs-2':
    case 'utf16le':
    case 'utf-16le':
      return Buffer.byteLength(chunk, encoding);
    default:
      // Other spellings ('UTF8', 'Latin1') and the estimated encodings.
      return undefined;
  }
}

/** A flush's writes are done (or dropped): its writers go on, and its slabs are free of them. */
function written(waiting: Array<() => void>, slabs: Slab[]): void {
  for (const slab of slabs) slab.release();
  for (const callback of waiting) callback();
}
