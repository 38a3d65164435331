import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_VSOCK_PORT } from './constants.js';
import { VulcanError } from './errors.js';
import { encodeFrame, FrameDecoder } from './framing.js';
import {
  type AgentRequest,
  decodeMessage,
  encodePing,
  encodeRequest,
  type GuestRequest,
  type GuestResponse,
  type LogMessage,
} from './protocol.js';

/**
 * What a Node host needs to drive a guest agent. Two transports:
 * - `hybrid` (default): Firecracker's (or vhost-device-vsock's) vsock Unix socket;
 *   the client writes `CONNECT <port>\n` and expects `OK <n>\n` before the stream
 *   becomes the guest connection (PROTOCOL.md §1).
 * - `unix`: the agent itself listening on a Unix socket (`--listen unix:PATH`), no handshake.
 */
export type Transport = 'hybrid' | 'unix';

export interface DialOptions {
  /** Unix socket path: the VMM's vsock UDS (hybrid) or the agent's socket (unix). */
  readonly path: string;
  readonly transport?: Transport;
  /** Guest vsock port for the handshake (hybrid only). Default 1024. */
  readonly port?: number;
  /** Connection attempts before giving up. Default 5, as the Go host. */
  readonly attempts?: number;
  /** First back-off delay; doubles after each failed attempt. Default 100 ms. */
  readonly backoffMs?: number;
  /** Upper bound of one back-off delay. Default 2 s. */
  readonly maxBackoffMs?: number;
  /** Aborts dialing (E_ABORTED). */
  readonly signal?: AbortSignal;
  /** Absolute time (ms since epoch, as Date.now()) after which the call fails with E_DEADLINE. */
  readonly deadline?: number;
  /**
   * How long one attempt waits for the answer to `CONNECT` before it counts as failed (and is
   * retried). A VMM can lose a CONNECT sent while the guest's vsock driver starts; without
   * this the attempt would wait for ever. Default 2 s (a listening guest answers in ms).
   */
  readonly handshakeTimeoutMs?: number;
}

export interface RunOptions extends DialOptions {
  /** Called for every streamed output line, as it arrives. */
  readonly onLog?: (log: LogMessage) => void;
}

/** An open connection to the guest, plus any guest bytes that arrived with the handshake reply. */
export interface GuestConnection {
  readonly socket: net.Socket;
  readonly pending: Buffer;
}

const MAX_HANDSHAKE_LINE = 64;

/** Transient failure: the guest (or the VMM's socket) is not there yet; worth retrying. */
class NotReady extends Error {}

function checkStop(options: DialOptions): void {
  if (options.signal?.aborted)
    throw new VulcanError('E_ABORTED', 'aborted by the caller', { cause: options.signal.reason });
  if (options.deadline !== undefined && Date.now() >= options.deadline) {
    throw new VulcanError('E_DEADLINE', 'deadline passed before the guest answered');
  }
}

/** Runs `body` with a socket that is destroyed on abort or at the deadline, rejecting accordingly. */
function withSocket<T>(
  socket: net.Socket,
  options: DialOptions,
  body: (resolve: (value: T) => void, reject: (error: unknown) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: unknown): void => {
      finish();
      socket.destroy();
      reject(error);
    };
    const onAbort = (): void =>
      fail(new VulcanError('E_ABORTED', 'aborted by the caller', { cause: options.signal?.reason }));
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.deadline !== undefined) {
      timer = setTimeout(
        () => fail(new VulcanError('E_DEADLINE', 'deadline passed before the guest answered')),
        Math.max(0, options.deadline - Date.now()),
      );
    }
    body((value) => {
      finish();
      resolve(value);
    }, fail);
  });
}

/** One connection attempt: connect, and in hybrid mode do the CONNECT/OK handshake. */
function attempt(options: DialOptions): Promise<GuestConnection> {
  const socket = net.createConnection(options.path);
  const hybrid = (options.transport ?? 'hybrid') === 'hybrid';
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 2000;
  return withSocket<GuestConnection>(socket, options, (resolve, reject) => {
    let reply = Buffer.alloc(0);
    const fail = (error: unknown): void => {
      cleanup();
      reject(error);
    };
    const onError = (error: NodeJS.ErrnoException): void => {
      const transient = error.code === 'ENOENT' || error.code === 'ECONNREFUSED' || error.code === 'ECONNRESET';
      fail(transient ? new NotReady(`${options.path}: ${error.code}`) : error);
    };
    const onClose = (): void => fail(new NotReady('closed during the handshake: nothing listens on the guest port'));
    const onData = (chunk: Buffer): void => {
      reply = Buffer.concat([reply, chunk]);
      const newline = reply.indexOf(0x0a);
      if (newline < 0) {
        if (reply.byteLength > MAX_HANDSHAKE_LINE) {
          fail(new VulcanError('E_HANDSHAKE', `handshake reply too long: ${JSON.stringify(reply.toString('latin1'))}`));
        }
        return;
      }
      const line = reply.subarray(0, newline).toString('latin1');
      if (!/^OK [0-9]+$/.test(line)) {
        fail(new VulcanError('E_HANDSHAKE', `handshake refused: ${JSON.stringify(line)}`));
        return;
      }
      cleanup();
      socket.pause();
      resolve({ socket, pending: reply.subarray(newline + 1) });
    };
    const silence = setTimeout(() => {
      socket.destroy();
      fail(new NotReady(`no answer to CONNECT within ${handshakeTimeoutMs} ms`));
    }, handshakeTimeoutMs);
    const cleanup = (): void => {
      clearTimeout(silence);
      socket.off('error', onError).off('close', onClose).off('data', onData);
    };
    socket.on('error', onError).on('close', onClose);
    socket.once('connect', () => {
      if (!hybrid) {
        cleanup();
        resolve({ socket, pending: Buffer.alloc(0) });
        return;
      }
      socket.on('data', onData);
      socket.write(`CONNECT ${options.port ?? DEFAULT_VSOCK_PORT}\n`);
    });
  });
}

/**
 * Connects to the guest agent, retrying with doubling back-off while the VMM
 * socket is missing or nothing listens on the guest port yet.
 */
export async function dialGuest(options: DialOptions): Promise<GuestConnection> {
  const attempts = options.attempts ?? 5;
  let delay = options.backoffMs ?? 100;
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    checkStop(options);
    try {
      return await attempt(options);
    } catch (error) {
      if (!(error instanceof NotReady)) throw error;
      last = error;
    }
    if (i + 1 < attempts) {
      const wait = options.deadline === undefined ? delay : Math.min(delay, Math.max(0, options.deadline - Date.now()));
      await sleep(wait, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
      delay = Math.min(delay * 2, options.maxBackoffMs ?? 2000);
    }
  }
  checkStop(options);
  throw new VulcanError(
    'E_GUEST_UNREACHABLE',
    `guest not reachable after ${attempts} attempts: ${(last as Error).message}`,
    {
      cause: last,
    },
  );
}

/**
 * Sends one request on an open connection, hands each log line to `onLog` as it
 * arrives, and resolves with the result. The connection is closed afterwards.
 */
export function exchange(
  connection: GuestConnection,
  request: AgentRequest,
  options: Omit<RunOptions, 'path'> = {},
): Promise<GuestResponse> {
  const { socket, pending } = connection;
  return withSocket<GuestResponse>(socket, { path: '', ...options }, (resolve, reject) => {
    const decoder = new FrameDecoder();
    let done = false;
    const consume = (chunk: Buffer): void => {
      if (done) return;
      try {
        for (const payload of decoder.push(chunk)) {
          const message = decodeMessage(payload);
          if (message.type === 'log') {
            options.onLog?.(message);
            continue;
          }
          done = true;
          socket.end();
          resolve(message.response);
          return;
        }
      } catch (error) {
        done = true;
        reject(error);
      }
    };
    socket.on('data', consume);
    socket.on('error', (error) => {
      if (!done)
        reject(new VulcanError('E_CONNECTION_CLOSED', `connection failed: ${error.message}`, { cause: error }));
      done = true;
    });
    socket.on('close', () => {
      if (done) return;
      done = true;
      try {
        decoder.end();
        reject(new VulcanError('E_CONNECTION_CLOSED', 'connection closed before the result arrived'));
      } catch (error) {
        reject(error);
      }
    });
    try {
      socket.write(encodeFrame('type' in request ? encodePing() : encodeRequest(request)));
    } catch (error) {
      done = true;
      reject(error);
      return;
    }
    if (pending.byteLength > 0) consume(pending);
    socket.resume();
  });
}

/** Dials the guest, runs one request and returns its result: what a host does per workload. */
export async function runOnGuest(request: GuestRequest, options: RunOptions): Promise<GuestResponse> {
  const connection = await dialGuest(options);
  return exchange(connection, request, options);
}

/** Asks the agent for its version, uptime and runtimes without running anything (extension). */
export async function pingGuest(options: DialOptions): Promise<GuestResponse> {
  const connection = await dialGuest(options);
  return exchange(connection, { type: 'ping' }, options);
}
