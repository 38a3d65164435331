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

/** Queued bytes that trigger an immediate write instead of waiting for the end of the turn. */
const BATCH_BYTES = 64 * 1024;

/**
 * Writes framed messages to one connection without ever blocking the agent.
 * Messages produced in the same turn of the event loop are framed into one
 * buffer and go out in one write; log lines are JSON-encoded straight to text
 * (no object, no per-frame buffer), which keeps streaming cheap in CPU and garbage.
 * `congested` tells producers to pause (the workload's pipes) until `onDrain`.
 * Once the connection is gone, sends are dropped.
 */
export class FrameSender {
  /** Queued payloads: JSON text (log lines) or encoded bytes (results). */
  #pending: (string | Buffer)[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  #drainWaiters: (() => void)[] = [];
  #closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly highWater: number,
  ) {
    socket.on('drain', () => this.#notifyDrain());
    socket.on('close', () => {
      this.#closed = true;
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#notifyDrain();
    });
  }

  get closed(): boolean {
    return this.#closed || this.socket.destroyed;
  }

  /** Bytes accepted but not yet handed to the kernel (log text counted in UTF-16 units: close enough). */
  get queuedBytes(): number {
    return this.#pendingBytes + this.socket.writableLength;
  }

  get congested(): boolean {
    return !this.closed && this.queuedBytes >= this.highWater;
  }

  /** Queues one output line. */
  sendLog(line: string, stream: LogStream): void {
    if (this.closed) return;
    const json = logMessageJSON(line, stream);
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
    // Flush a full batch at once: queued text that waits for the next turn survives a GC and gets promoted.
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

  /** Frames everything queued into one buffer and hands it to the socket. */
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
    this.socket.write(batch);
    // write() emits 'drain' only after it returned false; wake waiters if the kernel took it all.
    this.#notifyDrain();
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
   * Flushes, half-closes and resolves once everything was written; destroys the
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
      this.socket.end(() => {
        clearTimeout(timer);
        resolve('sent');
      });
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve(this.socket.writableFinished ? 'sent' : 'closed');
      });
    });
  }

  #notifyDrain(): void {
    if (this.congested) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter();
  }
}
