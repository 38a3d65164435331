import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  decodeRequest,
  encodeFrame,
  encodeMessage,
  FrameDecoder,
  type GuestMessage,
  type GuestRequest,
} from '@vulcan/shared';

/** How the fake VMM behaves on each connection. */
export interface FakeGuestOptions {
  /** Speak the hybrid-vsock handshake (Firecracker) or not (agent on a plain unix socket). */
  handshake: boolean;
  /** Reply to `CONNECT`: a line to send, 'close' for "nothing listens on that port", or
   * 'silent' for a CONNECT the VMM lost (seen with vhost-device-vsock while the guest boots). */
  reply?: (attempt: number) => string | 'close' | 'silent';
  /** What the guest does with the decoded request. */
  serve?: (request: GuestRequest, socket: net.Socket, send: (m: GuestMessage) => void) => void;
}

/** A fake Firecracker vsock UDS with a fake agent behind it, for host-client tests. */
export class FakeGuest {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'fake-guest-'));
  readonly path = path.join(this.dir, 'v.sock');
  readonly requests: GuestRequest[] = [];
  readonly handshakes: string[] = [];
  #server: net.Server | undefined;
  #sockets = new Set<net.Socket>();

  constructor(private readonly options: FakeGuestOptions) {}

  async start(): Promise<this> {
    let attempt = 0;
    this.#server = net.createServer((socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
      const n = attempt++;
      if (!this.options.handshake) return this.#serve(socket, Buffer.alloc(0));
      let buffered = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        buffered = Buffer.concat([buffered, chunk]);
        const nl = buffered.indexOf(0x0a);
        if (nl < 0) return;
        socket.off('data', onData);
        this.handshakes.push(buffered.subarray(0, nl + 1).toString());
        const reply = this.options.reply?.(n) ?? 'OK 1073741824\n';
        if (reply === 'close') return void socket.destroy();
        if (reply === 'silent') return;
        socket.write(reply);
        this.#serve(socket, buffered.subarray(nl + 1));
      };
      socket.on('data', onData);
    });
    await new Promise<void>((resolve) => this.#server?.listen(this.path, resolve));
    return this;
  }

  #serve(socket: net.Socket, initial: Buffer): void {
    const decoder = new FrameDecoder();
    const send = (m: GuestMessage): void => void socket.write(encodeFrame(encodeMessage(m)));
    const onData = (chunk: Buffer): void => {
      for (const payload of decoder.push(chunk)) {
        const request = decodeRequest(payload);
        this.requests.push(request);
        this.options.serve?.(request, socket, send);
      }
    };
    socket.on('data', onData);
    if (initial.byteLength > 0) onData(initial);
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Echo-style fake agent: two log lines then a result carrying the request's code. */
export function echoServe(request: GuestRequest, _socket: net.Socket, send: (m: GuestMessage) => void): void {
  send({ type: 'log', line: 'first', stream: 'stdout' });
  send({ type: 'log', line: 'second', stream: 'stderr' });
  send({ type: 'result', response: { exit_code: 0, output: request.code, log_lines: ['second'] } });
}
