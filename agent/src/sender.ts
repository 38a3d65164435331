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

/** Queued bytes that trigger an immediate framing instead of waiting for the end of the turn. */
const BATCH_BYTES = 64 * 1024;

/**
 * Largest single write handed to the socket. AF_VSOCK's virtio transport turns one
 * send() into packets of up to 64 KiB, each a fresh kmalloc; in a small guest whose
 * memory is fragmented (after a `go build`, say) that order-4 allocation fails and
 * send() returns ENOMEM, which would end the connection. 4 KiB packets are order-0
 * allocations. Measured in the VM: a Go program's 20 MB of output failed with 64 KiB
 * writes and streams with these.
 */
const WRITE_SLICE_BYTES = 4096;

/**
 * Writes framed messages to one connection without ever blocking the agent.
 * Messages produced in the same turn of the event loop are framed into one
 * buffer; log lines are JSON-encoded straight to text (no object, no per-frame
 * buffer), which keeps streaming cheap in CPU and garbage. Framed bytes go out in
 * slices, one write in flight at a time. `congested` tells producers to pause
 * (the workload's pipes) until `onDrain`. Once the connection is gone, sends are dropped.
 */
export class FrameSender {
  /** Messages not yet framed: JSON text (log lines) or encoded bytes (results). */
  #pending: (string | Buffer)[] = [];
  #pendingBytes = 0;
  /** Framed bytes waiting to be written, oldest first. */
  #outbox: Buffer[] = [];
  #outboxBytes = 0;
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
    socket.on('close', () => {
      this.#closed = true;
      this.#pending = [];
      this.#outbox = [];
      this.#pendingBytes = 0;
      this.#outboxBytes = 0;
      this.#notify();
    });
  }

  get closed(): boolean {
    return this.#closed || this.socket.destroyed;
  }

  /** Bytes accepted but not yet handed to the kernel (log text counted in UTF-16 units: close enough). */
  get queuedBytes(): number {
    return this.#pendingBytes + this.#outboxBytes + this.socket.writableLength;
  }

  get congested(): boolean {
    return !this.closed && this.queuedBytes >= this.highWater;
  }

  /** Queues one output line, numbered in the order the agent saw it across both streams. */
  sendLog(line: string, stream: LogStream): void {
    if (this.closed) return;
    const json = logMessageJSON(line, stream, ++this.#seq);
    this.#queue(json, json.length);
  }

  /** Queues a message. Throws E_FRAME_TOO_LARGE for a message over 16 MiB (nothing is queued then). */
  send(message: GuestMessage): void {
    if (this.closed) return;
    const payload = encodeMessage(message);
    if (payload.length > MAX_FRAME_BYTES) {
      throw new VulcanError('E_FRAME_TOO_LARGE', `message of ${payload.length} bytes exceeds ${MAX_FRAME_BYTES}`);
    }
    this.#queue(payload, payload.length);
  }

  #queue(payload: string | Buffer, size: number): void {
    this.#pending.push(payload);
    this.#pendingBytes += size + FRAME_HEADER_BYTES;
    // Frame a full batch at once: queued text that waits for the next turn survives a GC and gets promoted.
    if (this.#pendingBytes >= BATCH_BYTES) {
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

  /** Frames everything queued into one buffer and starts writing it. */
  flush(): void {
    if (this.closed || this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    const sizes = pending.map((p) => (typeof p === 'string' ? Buffer.byteLength(p) : p.length));
    const batch = Buffer.allocUnsafe(sizes.reduce((sum, n) => sum + n + FRAME_HEADER_BYTES, 0));
    let offset = 0;
    for (let i = 0; i < pending.length; i++) {
      const payload = pending[i] as string | Buffer;
      const size = sizes[i] as number;
      batch.writeUInt32BE(size, offset);
      offset += FRAME_HEADER_BYTES;
      offset += typeof payload === 'string' ? batch.write(payload, offset, 'utf8') : payload.copy(batch, offset);
    }
    this.#outbox.push(batch);
    this.#outboxBytes += batch.length;
    this.#pump();
  }

  /** Writes the next slice once the previous one is with the kernel. */
  #pump(): void {
    if (this.#writing || this.closed) return;
    const head = this.#outbox[0];
    if (head === undefined) {
      this.#notify();
      return;
    }
    const slice = head.subarray(0, WRITE_SLICE_BYTES);
    if (slice.length === head.length) this.#outbox.shift();
    else this.#outbox[0] = head.subarray(slice.length);
    this.#outboxBytes -= slice.length;
    this.#writing = true;
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

  #whenIdle(callback: () => void): void {
    if (!this.#writing && this.#outbox.length === 0) callback();
    else this.#idleWaiters.push(callback);
  }

  #notify(): void {
    if (!this.#writing && this.#outbox.length === 0 && this.#idleWaiters.length > 0) {
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
