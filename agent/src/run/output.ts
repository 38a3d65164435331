import { StringDecoder } from 'node:string_decoder';

/**
 * Turning a pipe's bytes into lines and into the capped copies the result carries.
 * Everything here is bounded: a line is at most `maxLineBytes`, and the captures
 * keep a head and a tail of fixed size whatever the volume of output.
 */

/** Index where a cut of `buf` at `at` does not split a UTF-8 sequence (backs off at most 3 bytes). */
export function utf8Boundary(buf: Buffer, at: number): number {
  if (at >= buf.length) return buf.length;
  let cut = at;
  // Step back over continuation bytes (10xxxxxx) so the cut lands on a sequence start.
  while (cut > at - 3 && cut > 0 && ((buf[cut] as number) & 0xc0) === 0x80) cut--;
  return cut > 0 ? cut : at;
}

/**
 * Splits a byte stream into lines. A line ends at `\n` (a `\r` before it is
 * dropped, like Go's bufio.ScanLines); a line longer than `maxLineBytes` is
 * emitted in pieces cut at UTF-8 boundaries. Bytes that are not valid UTF-8
 * become U+FFFD. `end()` delivers a last line that had no newline.
 *
 * Nothing of a pushed chunk is kept after `push` returns (the agent reads into
 * one reused buffer): a line still open at the end of a chunk is copied into a
 * line buffer of fixed size, allocated once.
 */
export class LineSplitter {
  /** The open line's bytes; one byte more than a piece, to see where the next piece starts. */
  #line: Buffer | undefined;
  #length = 0;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: string, bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      if (newline < 0) break;
      this.#completeLine(chunk.subarray(start, newline));
      start = newline + 1;
    }
    if (start < chunk.length) this.#add(chunk.subarray(start));
  }

  end(): void {
    if (this.#length > 0) this.#emit(false);
  }

  #completeLine(bytes: Buffer): void {
    if (this.#length === 0 && bytes.length <= this.maxLineBytes) {
      // The common case: the whole line is in this chunk; no copy.
      const end = bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
      this.onLine(bytes.toString('utf8', 0, end), bytes.length + 1);
      return;
    }
    this.#add(bytes);
    this.#emit(true);
  }

  /** Appends to the open line, emitting a piece each time it grows past the maximum. */
  #add(bytes: Buffer): void {
    const max = this.maxLineBytes;
    this.#line ??= Buffer.allocUnsafe(max + 1);
    const line = this.#line;
    let offset = 0;
    while (offset < bytes.length) {
      const copied = bytes.copy(line, this.#length, offset, Math.min(bytes.length, offset + max + 1 - this.#length));
      this.#length += copied;
      offset += copied;
      if (this.#length > max) {
        const cut = utf8Boundary(line.subarray(0, this.#length), max);
        this.onLine(line.toString('utf8', 0, cut), cut);
        line.copyWithin(0, cut, this.#length);
        this.#length -= cut;
      }
    }
  }

  #emit(newline: boolean): void {
    const line = this.#line as Buffer;
    const end = newline && this.#length > 0 && line[this.#length - 1] === 0x0d ? this.#length - 1 : this.#length;
    this.onLine(line.toString('utf8', 0, end), this.#length + (newline ? 1 : 0));
    this.#length = 0;
  }
}

/**
 * Keeps the first `head` and the last `tail` bytes of a stream, and counts all
 * of them. The tail is a fixed ring buffer, so capturing costs no allocation per
 * chunk and nothing lingers for the garbage collector, whatever the volume.
 */
export class ByteCapture {
  readonly #head: Buffer;
  #headLength = 0;
  #ring: Buffer | undefined;
  /** Bytes written to the ring so far (its write position is this modulo its size). */
  #ringWritten = 0;
  total = 0;

  constructor(
    headBytes: number,
    private readonly tailBytes: number,
  ) {
    // Uninitialised on purpose: only written bytes are ever read, and untouched pages cost the VM nothing.
    this.#head = Buffer.allocUnsafe(headBytes);
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.#headLength < this.#head.length) {
      const take = rest.copy(
        this.#head,
        this.#headLength,
        0,
        Math.min(rest.length, this.#head.length - this.#headLength),
      );
      this.#headLength += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0 || this.tailBytes === 0) return;
    this.#ring ??= Buffer.allocUnsafe(this.tailBytes);
    const ring = this.#ring;
    if (rest.length > ring.length) rest = rest.subarray(rest.length - ring.length);
    let at = this.#ringWritten % ring.length;
    let offset = 0;
    while (offset < rest.length) {
      const n = rest.copy(ring, at, offset, Math.min(rest.length, offset + ring.length - at));
      offset += n;
      at = (at + n) % ring.length;
    }
    this.#ringWritten += rest.length;
  }

  /** Bytes dropped between head and tail. */
  get omitted(): number {
    return this.total - this.#headLength - Math.min(this.#ringWritten, this.tailBytes);
  }

  get truncated(): boolean {
    return this.omitted > 0;
  }

  head(): Buffer {
    return this.#head.subarray(0, this.#headLength);
  }

  /** The kept tail bytes, oldest first. */
  tail(): Buffer {
    const ring = this.#ring;
    if (!ring || this.#ringWritten === 0) return Buffer.alloc(0);
    if (this.#ringWritten <= ring.length) return ring.subarray(0, this.#ringWritten);
    const at = this.#ringWritten % ring.length;
    return Buffer.concat([ring.subarray(at), ring.subarray(0, at)]);
  }

  /** The kept text; when bytes were dropped, a marker line says how many. */
  text(): string {
    const head = this.head();
    const tail = this.tail();
    if (this.omitted <= 0) {
      // Decoded piecewise (a character may straddle head and tail): no copy of up to 1 MiB to join them.
      const decoder = new StringDecoder('utf8');
      return decoder.write(head) + decoder.write(tail) + decoder.end();
    }
    const headText = head.subarray(0, utf8Boundary(head, head.length)).toString('utf8');
    const tailText = tail.subarray(utf8Boundary(tail, 0)).toString('utf8');
    return `${headText}\n[vulcan-guest: ${this.omitted} bytes omitted]\n${tailText}`;
  }

  /**
   * The kept bytes as lines, split exactly as they were streamed. When bytes were
   * dropped, the tail's first (partial) line is dropped too and a marker line
   * takes the place of everything omitted.
   */
  lines(maxLineBytes: number): string[] {
    const out: string[] = [];
    const split = (bytes: Buffer): void => {
      const splitter = new LineSplitter(maxLineBytes, (line) => out.push(line));
      splitter.push(bytes);
      splitter.end();
    };
    if (this.omitted <= 0) {
      split(Buffer.concat([this.head(), this.tail()]));
      return out;
    }
    const head = this.head();
    const lastNewline = head.lastIndexOf(0x0a);
    split(head.subarray(0, lastNewline + 1));
    const tail = this.tail();
    const firstNewline = tail.indexOf(0x0a);
    const dropped = head.length - (lastNewline + 1) + (firstNewline + 1) + this.omitted;
    out.push(`[vulcan-guest: ${dropped} bytes omitted]`);
    split(tail.subarray(firstNewline + 1));
    return out;
  }
}
