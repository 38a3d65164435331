import { closeSync, fchownSync } from 'node:fs';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { log } from '../log.js';
import { loadNative } from '../native.js';
import type { Identity } from './identity.js';

/**
 * The workload's stdout and stderr pipes, read into one reused buffer.
 *
 * Node's own child pipes hand every read over as a fresh 64 KiB buffer outside
 * the JS heap, which only a full GC returns: streaming 100 MB through them grew
 * the agent by ~55 MiB, or cost a forced GC every few MB (5–10 ms each). Here the
 * agent makes the pipes itself (pipe2 from the syscalls addon), gives the child
 * the write ends, and reads the read ends with `onread`: libuv reads into one
 * buffer the agent owns, so reading allocates nothing (measured on 100 MB: +1.4 MiB).
 * Consumers get a view of that buffer that is valid only during the callback.
 *
 * When the addon cannot be loaded, Node's pipes are used (`null` here, and a
 * warning once); the byte-budget GC (memory.ts) then frees their read buffers too.
 */
interface PipeNative {
  pipe(): [readFd: number, writeFd: number];
}

/** Size of the one buffer every pipe read lands in (the kernel's default pipe capacity). */
const READ_BUFFER_BYTES = 64 * 1024;

let native: Promise<PipeNative | null> | undefined;
let readBuffer: Buffer | undefined;

function pipeNative(): Promise<PipeNative | null> {
  native ??= loadNative<PipeNative>('syscalls').catch((error: unknown) => {
    log('warn', `reading workload output through Node's pipes: ${(error as Error).message}`);
    return null;
  });
  return native;
}

/** A pipe whose write end goes to the child and whose read end the agent reads. */
export interface OutputPipe {
  /** The fd to put in the child's stdio; the agent's copy is closed by `closeChildEnd`. */
  readonly childFd: number;
  /** After spawn (or after it failed): closes the agent's copy of the write end. */
  closeChildEnd(): void;
  /** Starts reading; `onChunk` sees a view valid only during the call. */
  start(onChunk: (chunk: Buffer) => void): Readable;
  /** Closes the read end when reading never started. */
  discard(): void;
}

function outputPipe(pipes: PipeNative, owner: Identity | null): OutputPipe {
  const [readFd, writeFd] = pipes.pipe();
  if (owner) {
    try {
      // The workload's own pipe, so that it can reopen it (`echo hi > /dev/stdout`, `tee /dev/stderr`).
      fchownSync(writeFd, owner.uid, owner.gid);
    } catch (error) {
      closeSync(readFd);
      closeSync(writeFd);
      throw error;
    }
  }
  let childEndOpen = true;
  let readEndOwned = true;
  return {
    childFd: writeFd,
    closeChildEnd() {
      if (!childEndOpen) return;
      childEndOpen = false;
      closeSync(writeFd);
    },
    start(onChunk) {
      readEndOwned = false;
      readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
      const options: net.SocketConstructorOpts & { onread: net.OnReadOpts } = {
        fd: readFd,
        readable: true,
        writable: false,
        // Accepted by the constructor since Node 12; the types only list it for connect().
        onread: {
          buffer: readBuffer,
          callback: (bytes, buffer) => {
            onChunk((buffer as Buffer).subarray(0, bytes));
            return true;
          },
        },
      };
      const socket = new net.Socket(options);
      socket.on('error', () => undefined); // A read error ends the stream like EOF; 'close' follows.
      socket.resume(); // Flowing, so end of file is seen and 'close' emitted.
      return socket;
    },
    discard() {
      if (!readEndOwned) return;
      readEndOwned = false;
      closeSync(readFd);
    },
  };
}

/** Fresh stdout and stderr pipes owned by the workload's user, or null to use Node's own. */
export async function openOutputPipes(owner: Identity | null): Promise<[OutputPipe, OutputPipe] | null> {
  const pipes = await pipeNative();
  if (!pipes) return null;
  const stdout = outputPipe(pipes, owner);
  try {
    return [stdout, outputPipe(pipes, owner)];
  } catch (error) {
    stdout.closeChildEnd();
    stdout.discard();
    throw error;
  }
}
