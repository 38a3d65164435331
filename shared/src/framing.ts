import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from './constants.js';
import { VulcanError } from './errors.js';

/**
 * Length-prefixed framing (PROTOCOL.md §2): a 4-byte big-endian unsigned length N,
 * then exactly N bytes of UTF-8 JSON. N may be at most 16 MiB in both directions.
 */

function tooLarge(length: number, limit: number): VulcanError {
  return new VulcanError('E_FRAME_TOO_LARGE', `frame of ${length} bytes exceeds the ${limit}-byte limit`);
}

/** Prefixes `payload` with its length. Throws E_FRAME_TOO_LARGE past `limit`. */
export function encodeFrame(payload: Uint8Array, limit = MAX_FRAME_BYTES): Buffer {
  if (payload.byteLength > limit) throw tooLarge(payload.byteLength, limit);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength, 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Incremental frame decoder: feed it chunks of any size with `push`, get back
 * every payload completed so far. Keeps a list of chunks and a byte count and
 * only copies when a whole frame is there. A length over the limit throws as soon
 * as the 4 header bytes are in, before any of the body is buffered; after that
 * the decoder is unusable (the stream has lost sync).
 */
export class FrameDecoder {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the frame being assembled, or -1 while its header is incomplete. */
  #expected = -1;
  #failed: VulcanError | undefined;

  constructor(limit = MAX_FRAME_BYTES) {
    this.#limit = limit;
  }

  /** Bytes held that do not yet form a whole frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Appends a chunk; returns the payloads of all frames it completed, in order. */
  push(chunk: Uint8Array): Buffer[] {
    if (this.#failed) throw this.#failed;
    if (chunk.byteLength > 0) {
      this.#chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.#buffered += chunk.byteLength;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.#expected < 0) {
        if (this.#buffered < FRAME_HEADER_BYTES) break;
        const length = this.#take(FRAME_HEADER_BYTES).readUInt32BE(0);
        if (length > this.#limit) {
          this.#failed = tooLarge(length, this.#limit);
          this.#chunks = [];
          this.#buffered = 0;
          throw this.#failed;
        }
        this.#expected = length;
      }
      if (this.#buffered < this.#expected) break;
      frames.push(this.#take(this.#expected));
      this.#expected = -1;
    }
    return frames;
  }

  /** Declares the end of the stream: throws E_FRAME_TRUNCATED if a frame was left incomplete. */
  end(): void {
    if (this.#failed) throw this.#failed;
    if (this.#buffered > 0 || this.#expected >= 0) {
      const have = this.#buffered;
      const what =
        this.#expected >= 0
          ? `${have} of ${this.#expected} body bytes`
          : `${have} of ${FRAME_HEADER_BYTES} header bytes`;
      throw new VulcanError('E_FRAME_TRUNCATED', `stream ended mid-frame after ${what}`);
    }
  }

  /** Removes and returns the first `n` buffered bytes (n ≤ buffered). */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first !== undefined && first.byteLength >= n) {
      if (first.byteLength === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0] as Buffer;
      const used = Math.min(chunk.byteLength, n - filled);
      out.set(chunk.subarray(0, used), filled);
      filled += used;
      if (used === chunk.byteLength) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}

/** Reads frames from any async byte stream (a net.Socket, a file stream …) until it ends. */
export async function* readFrames(
  source: AsyncIterable<Uint8Array>,
  limit = MAX_FRAME_BYTES,
): AsyncGenerator<Buffer, void, undefined> {
  const decoder = new FrameDecoder(limit);
  for await (const chunk of source) {
    yield* decoder.push(chunk);
  }
  decoder.end();
}
