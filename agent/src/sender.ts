import type net from 'node:net';
import {
  encodeMessage,
  FRAME_HEADER_BYTES,
  type GuestMessage,
  type LogStream,
  logMessageJSON,
  MAX_FRAME_BYTES,
  VulcanError,
} from '@vulcan/shared';

/** Framed bytes that trigger writing at once instead of at the end of the turn. */
const BATCH_BYTES = 64 * 1024;

/**
 * Size of the buffers frames are written into. Frames are framed straight into
 * them and the buffers are reused once written, so streaming allocates no memory
 * outside the JS heap per line or per batch (memory V8 would only return after a
 * full GC). A frame larger than this is written from its own buffer.
 */
const CHUNK_BYTES = 64 * 1024;

/**
 * Largest single write handed to the socket. AF_VSOCK's virtio transport turns one
 * send() into packets of up to 64 KiB, each a fresh kmalloc; in a small guest whose
 * memory is fragmented (after a `go build`, say) that order-4 allocation fails and
 * send() returns ENOMEM, which would end the connection. 4 KiB packets are order-0
 * allocations. Measured in the VM: a Go program's 20 MB of output failed with 64 KiB
 * writes and streams with these.
 */
const WRITE_SLICE_BYTES = 4096;

/** A buffer of framed bytes; `end` is how far it is filled. Only our own chunks are refilled. */
interface Chunk {
  readonly buffer: Buffer;
  end: number;
  readonly reusable: boolean;
}

/**
 * Writes framed messages to one connection without ever blocking the agent.
 * Log lines are JSON-encoded straight to text and written into reusable chunks
 * (no object, no per-frame buffer); frames queued in the same turn of the event
 * loop go out together, in slices, one write in flight at a time. `congested`
 * tells producers to pause (the workload's pipes) until `onDrain`. Once the
 * connection is gone, sends are dropped.
 */
export class FrameSender {
  /** Framed bytes not yet handed to the socket: the first chunk is being written, the last filled. */
  #outbox: Chunk[] = [];
  /** Bytes of the first chunk already handed to the socket. */
  #sent = 0;
  #outboxBytes = 0;
  /** Written chunks kept for reuse: as many as a queue at the high-water mark holds, so a slow host makes no garbage. */
  #spare: Buffer[] = [];
  readonly #maxSpare: number;
  #writing = false;
  #scheduled = false;
  #drainWaiters: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];
  #closed = false;
  /** Lines sent so far on this connection: each log message's `seq`. */
  #seq = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly highWater: number,
  ) {
    this.#maxSpare = Math.ceil(highWater / CHUNK_BYTES) + 1;
    socket.on('close', () => {
      this.#closed = true;
      this.#outbox = [];
      this.#spare = [];
      this.#sent = 0;
      this.#outboxBytes = 0;
      this.#notify();
    });
  }

  get closed(): boolean {
    return this.#closed || this.socket.destroyed;
  }

  /** Bytes accepted but not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.#outboxBytes + this.socket.writableLength;
  }

  get congested(): boolean {
    return !this.closed && this.queuedBytes >= this.highWater;
  }

  /** Queues one output line, numbered in the order the agent saw it across both streams. */
  sendLog(line: string, stream: LogStream): void {
    if (this.closed) return;
    const json = logMessageJSON(line, stream, ++this.#seq);
    // UTF-8 takes at most 3 bytes per UTF-16 unit; only a long line needs its exact size measured.
    const size = json.length * 3 <= CHUNK_BYTES ? json.length * 3 : Buffer.byteLength(json);
    if (FRAME_HEADER_BYTES + size > CHUNK_BYTES) {
      this.#queueFrame(Buffer.from(json, 'utf8'));
      return;
    }
    const chunk = this.#chunkWithRoom(FRAME_HEADER_BYTES + size);
    const written = chunk.buffer.write(json, chunk.end + FRAME_HEADER_BYTES, 'utf8');
    chunk.buffer.writeUInt32BE(written, chunk.end);
    chunk.end += FRAME_HEADER_BYTES + written;
    this.#queued(FRAME_HEADER_BYTES + written);
  }

  /** Queues a message. Throws E_FRAME_TOO_LARGE for a message over 16 MiB (nothing is queued then). */
  send(message: GuestMessage): void {
    if (this.closed) return;
    const payload = encodeMessage(message);
    if (payload.length > MAX_FRAME_BYTES) {
      throw new VulcanError('E_FRAME_TOO_LARGE', `message of ${payload.length} bytes exceeds ${MAX_FRAME_BYTES}`);
    }
    this.#queueFrame(payload);
  }

  #queueFrame(payload: Buffer): void {
    const size = FRAME_HEADER_BYTES + payload.length;
    if (size <= CHUNK_BYTES) {
      const chunk = this.#chunkWithRoom(size);
      chunk.buffer.writeUInt32BE(payload.length, chunk.end);
      payload.copy(chunk.buffer, chunk.end + FRAME_HEADER_BYTES);
      chunk.end += size;
    } else {
      // A larger frame (a result with 1 MiB of output, say) is written from its own buffer: no copy.
      const header = this.#chunkWithRoom(FRAME_HEADER_BYTES);
      header.buffer.writeUInt32BE(payload.length, header.end);
      header.end += FRAME_HEADER_BYTES;
      this.#outbox.push({ buffer: payload, end: payload.length, reusable: false });
    }
    this.#queued(size);
  }

  /** The chunk being filled if `size` more bytes fit in it, else a fresh one. */
  #chunkWithRoom(size: number): Chunk {
    const last = this.#outbox.at(-1);
    if (last?.reusable && last.buffer.length - last.end >= size) return last;
    const chunk = { buffer: this.#spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES), end: 0, reusable: true };
    this.#outbox.push(chunk);
    return chunk;
  }

  #queued(bytes: number): void {
    this.#outboxBytes += bytes;
    if (this.#outboxBytes >= BATCH_BYTES) {
      this.flush();
      return;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
  }

  /** Starts writing everything queued. */
  flush(): void {
    this.#pump();
  }

  /** Writes the next slice once the previous one is with the kernel. */
  #pump(): void {
    if (this.#writing || this.closed) return;
    let head = this.#outbox[0];
    while (head !== undefined && this.#sent === head.end) {
      if (this.#outbox.length === 1 && head.reusable) {
        // Everything was written: fill the same chunk again from its start.
        head.end = 0;
        this.#sent = 0;
        break;
      }
      this.#outbox.shift();
      if (head.reusable && this.#spare.length < this.#maxSpare) this.#spare.push(head.buffer);
      this.#sent = 0;
      head = this.#outbox[0];
    }
    if (head === undefined || this.#sent === head.end) {
      this.#notify();
      return;
    }
    const length = Math.min(WRITE_SLICE_BYTES, head.end - this.#sent);
    const slice = head.buffer.subarray(this.#sent, this.#sent + length);
    this.#sent += length;
    this.#outboxBytes -= length;
    this.#writing = true;
    // The slice's bytes stay untouched until this callback: chunks are refilled only once written.
    this.socket.write(slice, (error) => {
      this.#writing = false;
      if (error) return; // The socket reports it and closes; 'close' clears the queues.
      this.#notify();
      this.#pump();
    });
  }

  /** Calls `callback` once the queue is below the high-water mark again (or the connection is gone). */
  onDrain(callback: () => void): void {
    if (!this.congested) {
      callback();
      return;
    }
    this.#drainWaiters.push(callback);
  }

  /**
   * Flushes, half-closes once everything was written, and resolves; destroys the
   * connection if the host has not taken it all within `timeoutMs`.
   */
  finish(timeoutMs: number): Promise<'sent' | 'timeout' | 'closed'> {
    this.flush();
    if (this.closed) return Promise.resolve('closed');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        resolve('timeout');
      }, timeoutMs);
      const onClose = (): void => {
        clearTimeout(timer);
        resolve(this.socket.writableFinished ? 'sent' : 'closed');
      };
      this.socket.once('close', onClose);
      this.#whenIdle(() =>
        this.socket.end(() => {
          clearTimeout(timer);
          this.socket.off('close', onClose);
          resolve('sent');
        }),
      );
    });
  }

  /** Nothing is being written and nothing waits to be. */
  #idle(): boolean {
    return !this.#writing && this.#outboxBytes === 0;
  }

  #whenIdle(callback: () => void): void {
    if (this.#idle()) callback();
    else this.#idleWaiters.push(callback);
  }

  #notify(): void {
    if (this.#idle() && this.#idleWaiters.length > 0) {
      const idle = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const waiter of idle) waiter();
    }
    if (this.congested || this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter();
  }
}
