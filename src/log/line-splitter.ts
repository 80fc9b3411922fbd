// Cuts a byte stream into whole lines, so that the output of several workers can share one log
// without a line of one cut into a line of another. Pure.

import { StringDecoder } from 'node:string_decoder';

/** A line longer than this is written in pieces of this size (PHP-FPM cuts at log_limit, 1 KiB). */
export const MAX_LINE_LENGTH = 64 * 1024;

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly maxLength = MAX_LINE_LENGTH) {}

  /** The lines that `chunk` completes, without their newlines. */
  push(chunk: Buffer | string): string[] {
    const text = this.partial + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    while (this.partial.length > this.maxLength) {
      lines.push(this.partial.slice(0, this.maxLength));
      this.partial = this.partial.slice(this.maxLength);
    }
    return lines;
  }

  /** What is left at the end of the stream: a last line without a newline, if any. */
  end(): string | undefined {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    return rest === '' ? undefined : rest;
  }
}
