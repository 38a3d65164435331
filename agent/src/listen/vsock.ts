import { closeSync } from 'node:fs';
import net from 'node:net';
import { log } from '../log.js';
import { loadNative } from '../native.js';

/**
 * AF_VSOCK listening through node-vsock, with our own I/O path.
 *
 * The addon binds, listens and accepts on a native thread and hands us each
 * accepted fd. Its own write call is a blocking send() on the JS thread: a host
 * that stops reading would freeze the whole agent (timeouts, kills, other
 * connections). So we never use it for data. Instead each accepted fd is
 * adopted by libuv as a stream (a pipe_wrap handle: read/write/epoll work on any
 * stream socket), which gives a non-blocking net.Socket with backpressure.
 */
/** The slice of node-vsock's native class we use (its JS wrapper is not published). */
interface VsockAddonSocket {
  /** Binds VMADDR_CID_ANY:port, listens, and accepts on a native thread, emitting `_connection` with each fd. */
  listen(port: number): void;
  close(): void;
}
/** Native events arrive as (error, eventName, ...args) from a thread-safe function. */
type VsockEmit = (error: Error | null, event: string, ...args: unknown[]) => void;
interface VsockAddon {
  VsockSocket: new (emit: VsockEmit, fd?: number) => VsockAddonSocket;
}

interface PipeHandle {
  open(fd: number): number;
}
interface PipeWrapBinding {
  Pipe: new (type: number) => PipeHandle;
  constants: { SOCKET: number };
}

/** Wraps a connected stream-socket fd (of any family) in a non-blocking net.Socket. */
export function socketFromFd(fd: number): net.Socket {
  const binding = (process as unknown as { binding(name: string): PipeWrapBinding }).binding('pipe_wrap');
  const handle = new binding.Pipe(binding.constants.SOCKET);
  const status = handle.open(fd);
  if (status !== 0) {
    closeSync(fd);
    throw new Error(`cannot adopt vsock fd ${fd}: libuv error ${status}`);
  }
  return new net.Socket({ handle, readable: true, writable: true, allowHalfOpen: true } as net.SocketConstructorOpts);
}

export interface VsockListener {
  close(): void;
}

/** Listens on VMADDR_CID_ANY:port; calls onConnection with a non-blocking socket per connection. */
export async function listenVsock(port: number, onConnection: (socket: net.Socket) => void): Promise<VsockListener> {
  const addon = await loadNative<VsockAddon>('vsock');
  let lastAcceptError = 0;
  const server: VsockAddonSocket = new addon.VsockSocket((error, event, ...args) => {
    if (error) {
      log('error', `vsock: ${error.message}`);
      return;
    }
    if (event === '_connection' && typeof args[0] === 'number') {
      try {
        onConnection(socketFromFd(args[0]));
      } catch (cause) {
        log('error', `vsock: ${(cause as Error).message}`);
      }
    } else if (event === '_error') {
      // The accept thread retries at once on failure (e.g. EMFILE): log at most once a second.
      const now = Date.now();
      if (now - lastAcceptError > 1000) log('error', `vsock: ${(args[0] as Error | undefined)?.message ?? 'error'}`);
      lastAcceptError = now;
    }
  });
  server.listen(port);
  return {
    close: () => server.close(),
  };
}
