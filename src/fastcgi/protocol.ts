// The FastCGI 1.0 wire format: record types, roles, flags and statuses, and the byte-level codecs
// for record headers and name-value pairs. Pure: no I/O, no state.
//
// A record is an 8-byte header (version, type, requestId:16, contentLength:16, paddingLength, reserved)
// followed by contentLength bytes of content and paddingLength bytes of padding.

export const FCGI_VERSION = 1;
export const HEADER_LENGTH = 8;
/** The most content one record can carry. */
export const MAX_CONTENT_LENGTH = 0xffff;
/** Management records (FCGI_GET_VALUES, FCGI_UNKNOWN_TYPE) carry request id 0. */
export const MANAGEMENT_REQUEST_ID = 0;

export const RecordType = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;

export const Role = { RESPONDER: 1, AUTHORIZER: 2, FILTER: 3 } as const;

/** FCGI_BEGIN_REQUEST flag: the web server keeps the connection open after this request. */
export const FLAG_KEEP_CONN = 1;

export const ProtocolStatus = {
  REQUEST_COMPLETE: 0,
  CANT_MPX_CONN: 1,
  OVERLOADED: 2,
  UNKNOWN_ROLE: 3,
} as const;

/** The management variables of FCGI_GET_VALUES. */
export const Variable = {
  MAX_CONNS: 'FCGI_MAX_CONNS',
  MAX_REQS: 'FCGI_MAX_REQS',
  MPXS_CONNS: 'FCGI_MPXS_CONNS',
} as const;

/** A violation of the protocol that makes the rest of a connection's byte stream meaningless. */
export class ProtocolError extends Error {
  override name = 'FastCGIProtocolError';
}

/** Writes a record header at `offset` (no padding: the spec only recommends 8-byte alignment). */
export function writeHeader(buf: Buffer, offset: number, type: number, requestId: number, contentLength: number): void {
  buf[offset] = FCGI_VERSION;
  buf[offset + 1] = type;
  buf[offset + 2] = requestId >>> 8;
  buf[offset + 3] = requestId & 0xff;
  buf[offset + 4] = contentLength >>> 8;
  buf[offset + 5] = contentLength & 0xff;
  buf[offset + 6] = 0;
  buf[offset + 7] = 0;
}

/** One whole record with `content` (at most MAX_CONTENT_LENGTH bytes) copied in. */
export function encodeRecord(type: number, requestId: number, content?: Uint8Array): Buffer {
  const length = content ? content.length : 0;
  if (length > MAX_CONTENT_LENGTH) throw new RangeError(`record content of ${length} bytes exceeds ${MAX_CONTENT_LENGTH}`);
  const buf = Buffer.allocUnsafe(HEADER_LENGTH + length);
  writeHeader(buf, 0, type, requestId, length);
  if (content) buf.set(content, HEADER_LENGTH);
  return buf;
}

export function encodeEndRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_LENGTH + 8);
  writeHeader(buf, 0, RecordType.END_REQUEST, requestId, 8);
  buf.writeUInt32BE(appStatus >>> 0, 8);
  buf[12] = protocolStatus;
  buf[13] = buf[14] = buf[15] = 0;
  return buf;
}

export function encodeUnknownType(type: number): Buffer {
  const buf = Buffer.alloc(HEADER_LENGTH + 8);
  writeHeader(buf, 0, RecordType.UNKNOWN_TYPE, MANAGEMENT_REQUEST_ID, 8);
  buf[8] = type;
  return buf;
}

export function encodeBeginRequest(requestId: number, role: number, flags: number): Buffer {
  const buf = Buffer.alloc(HEADER_LENGTH + 8);
  writeHeader(buf, 0, RecordType.BEGIN_REQUEST, requestId, 8);
  buf.writeUInt16BE(role, 8);
  buf[10] = flags;
  return buf;
}

export interface BeginRequestBody {
  role: number;
  flags: number;
}

export function decodeBeginRequest(content: Buffer): BeginRequestBody {
  if (content.length !== 8) throw new ProtocolError(`FCGI_BEGIN_REQUEST body of ${content.length} bytes, expected 8`);
  return { role: (content[0]! << 8) | content[1]!, flags: content[2]! };
}

export interface EndRequestBody {
  appStatus: number;
  protocolStatus: number;
}

export function decodeEndRequest(content: Buffer): EndRequestBody {
  if (content.length !== 8) throw new ProtocolError(`FCGI_END_REQUEST body of ${content.length} bytes, expected 8`);
  return { appStatus: content.readUInt32BE(0), protocolStatus: content[4]! };
}

/** Encodes name-value pairs (1-byte lengths below 128, else 4 bytes with the top bit set). */
export function encodeNameValuePairs(pairs: Iterable<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of pairs) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    const lengths = Buffer.allocUnsafe((n.length > 127 ? 4 : 1) + (v.length > 127 ? 4 : 1));
    let at = writeLength(lengths, 0, n.length);
    at = writeLength(lengths, at, v.length);
    parts.push(lengths, n, v);
  }
  return Buffer.concat(parts);
}

function writeLength(buf: Buffer, at: number, length: number): number {
  if (length <= 127) {
    buf[at] = length;
    return at + 1;
  }
  buf.writeUInt32BE((length | 0x80000000) >>> 0, at);
  return at + 4;
}

/**
 * The names of a web server's params repeat request after request, in the same order. Keeping the
 * name decoded last time at each position, and reusing it when the bytes match, saves decoding it
 * and makes it a property key V8 already knows (about half the cost of decoding the params).
 */
export class NameCache {
  private readonly entries: Array<{ bytes: Buffer; name: string } | undefined> = [];

  constructor(private readonly size = 64) {}

  name(buf: Buffer, start: number, end: number, position: number): string {
    const entry = this.entries[position];
    if (entry && entry.bytes.length === end - start) {
      const bytes = entry.bytes;
      let same = true;
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return entry.name;
    }
    const name = buf.toString('utf8', start, end);
    if (position < this.size) this.entries[position] = { bytes: Buffer.from(buf.subarray(start, end)), name };
    return name;
  }
}

/**
 * Decodes the name-value pairs in `buf`, calling `onPair` for each. Throws ProtocolError when a
 * length runs past the end: the pairs of one stream must be decoded from its whole content, since a
 * pair may straddle two FCGI_PARAMS records.
 */
export function decodeNameValuePairs(buf: Buffer, onPair: (name: string, value: string) => void, names?: NameCache): void {
  const end = buf.length;
  let at = 0;
  let position = 0;
  while (at < end) {
    let nameLength = buf[at]!;
    if (nameLength > 127) {
      if (at + 4 > end) throw truncatedPair();
      nameLength = buf.readUInt32BE(at) & 0x7fffffff;
      at += 4;
    } else at += 1;
    if (at >= end) throw truncatedPair();
    let valueLength = buf[at]!;
    if (valueLength > 127) {
      if (at + 4 > end) throw truncatedPair();
      valueLength = buf.readUInt32BE(at) & 0x7fffffff;
      at += 4;
    } else at += 1;
    const valueStart = at + nameLength;
    const valueEnd = valueStart + valueLength;
    if (valueEnd > end) throw truncatedPair();
    const name = names ? names.name(buf, at, valueStart, position++) : buf.toString('utf8', at, valueStart);
    onPair(name, valueLength ? buf.toString('utf8', valueStart, valueEnd) : '');
    at = valueEnd;
  }
}

function truncatedPair(): ProtocolError {
  return new ProtocolError('name-value pair runs past the end of its stream');
}
