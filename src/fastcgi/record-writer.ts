// Writes one connection's records. Everything a turn of the event loop produces goes out in one
// system call (a request's headers, body, end of stream and FCGI_END_REQUEST are usually one
// write), and writers wait while the socket holds more than it can take.

import type * as net from 'node:net';
import { HEADER_LENGTH, MAX_CONTENT_LENGTH, writeHeader } from './protocol';

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

  constructor(private readonly socket: net.Socket) {}

  /**
   * Queues `chunk` as records of stream `type` (never an empty one: that would end the stream).
   * `callback` runs when the writer may go on: at once for a small chunk (it is copied), once the
   * kernel has the bytes for a large one (sent in place) or when the socket is full.
   */
  writeStream(requestId: number, type: number, chunk: Buffer | string, encoding: BufferEncoding, callback: () => void): void {
    let copied = true;
    if (typeof chunk === 'string') {
      const length = Buffer.byteLength(chunk, encoding);
      if (length === 0) return callback();
      if (length <= MAX_CONTENT_LENGTH) {
        const record = Buffer.allocUnsafe(HEADER_LENGTH + length);
        writeHeader(record, 0, type, requestId, length);
        record.write(chunk, HEADER_LENGTH, length, encoding);
        this.write(record);
      } else {
        copied = this.writeBuffer(type, requestId, Buffer.from(chunk, encoding));
      }
    } else {
      if (chunk.length === 0) return callback();
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
    this.output.push(records);
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
    const output = this.output;
    const waiting = this.waiting;
    if (output.length === 0 && waiting.length === 0) return;
    const bytes = this.outputBytes;
    this.output = [];
    this.outputBytes = 0;
    this.waiting = [];
    const socket = this.socket;
    if (output.length === 0 || socket.destroyed || socket.writableEnded) return release(waiting);
    const done = waiting.length ? () => release(waiting) : undefined;
    if (output.length === 1) socket.write(output[0]!, done);
    else if (bytes <= COALESCE_LIMIT) socket.write(Buffer.concat(output, bytes), done);
    else {
      socket.cork();
      const last = output.length - 1;
      for (let i = 0; i < last; i++) socket.write(output[i]!);
      socket.write(output[last]!, done);
      socket.uncork();
    }
  };

  /** The connection is gone: drops what is queued and lets the writers go on (to nothing). */
  discard(): void {
    this.output = [];
    this.outputBytes = 0;
    const waiting = this.waiting;
    this.waiting = [];
    release(waiting);
  }

  /** Returns true if the chunk was copied, false if it is sent in place. */
  private writeBuffer(type: number, requestId: number, data: Buffer): boolean {
    const length = data.length;
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

function release(waiting: Array<() => void>): void {
  for (const callback of waiting) callback();
}
