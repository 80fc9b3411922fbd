// Cuts a byte stream into FastCGI records. Pure: fed chunks, it calls back once per whole record.
//
// A record's content is handed over as a view into the chunk it arrived in whenever it lies within
// one chunk; only a record that straddles chunks is copied, once. Since a record is at most
// 8 + 65535 + 255 bytes, the bytes held back between chunks are bounded by that.

import { FCGI_VERSION, HEADER_LENGTH, ProtocolError } from './protocol';

export type RecordHandler = (type: number, requestId: number, content: Buffer) => void;

export class RecordReader {
  private parts: Buffer[] = [];
  private held = 0;
  /** The full length (header, content, padding) of the record being held, once its header is in. */
  private heldRecordLength = 0;
  private stopped = false;
  private parsing = false;

  constructor(private readonly onRecord: RecordHandler) {}

  /** Bytes of an incomplete record held back: 0 means the stream is at a record boundary. */
  get pendingBytes(): number {
    return this.held;
  }

  /** True while a chunk is being cut: records of it may still be to come, though none is held yet. */
  get reading(): boolean {
    return this.parsing;
  }

  /** Stops calling back, at once (even within the chunk being read): the stream is being dropped. */
  stop(): void {
    this.stopped = true;
    this.parts = [];
    this.held = 0;
  }

  /** Reads `chunk`; throws ProtocolError on a header that is not FastCGI version 1. */
  push(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    if (this.held > 0) {
      this.parts.push(chunk);
      this.held += chunk.length;
      if (this.held < this.neededLength()) return;
      chunk = Buffer.concat(this.parts, this.held);
      this.parts = [];
      this.held = 0;
      this.heldRecordLength = 0;
    }
    this.parse(chunk);
  }

  private parse(buf: Buffer): void {
    this.parsing = true;
    try {
      this.cut(buf);
    } finally {
      this.parsing = false;
    }
  }

  private cut(buf: Buffer): void {
    let at = 0;
    const end = buf.length;
    while (end - at >= HEADER_LENGTH) {
      if (buf[at] !== FCGI_VERSION) throw new ProtocolError(`record header with FastCGI version ${buf[at]}, expected ${FCGI_VERSION}`);
      const contentLength = (buf[at + 4]! << 8) | buf[at + 5]!;
      const recordLength = HEADER_LENGTH + contentLength + buf[at + 6]!;
      if (end - at < recordLength) break;
      const type = buf[at + 1]!;
      const requestId = (buf[at + 2]! << 8) | buf[at + 3]!;
      const contentStart = at + HEADER_LENGTH;
      at += recordLength;
      this.onRecord(type, requestId, buf.subarray(contentStart, contentStart + contentLength));
      if (this.stopped) return;
    }
    if (at < end) {
      const rest = buf.subarray(at);
      this.parts = [rest];
      this.held = rest.length;
      this.heldRecordLength = 0;
      if (rest.length >= HEADER_LENGTH && rest[0] !== FCGI_VERSION) {
        throw new ProtocolError(`record header with FastCGI version ${rest[0]}, expected ${FCGI_VERSION}`);
      }
    }
  }

  /** How many bytes the held record needs in all: its header's 8 until that is in, then the whole record. */
  private neededLength(): number {
    if (this.heldRecordLength) return this.heldRecordLength;
    if (this.held < HEADER_LENGTH) return HEADER_LENGTH;
    const header = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.held);
    if (header[0] !== FCGI_VERSION) throw new ProtocolError(`record header with FastCGI version ${header[0]}, expected ${FCGI_VERSION}`);
    this.heldRecordLength = HEADER_LENGTH + ((header[4]! << 8) | header[5]!) + header[6]!;
    return this.heldRecordLength;
  }
}
