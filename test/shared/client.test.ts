import { existsSync } from 'node:fs';
import * as sharedModule from '@vulcan/shared';
import { dialGuest, exchange, type LogMessage, runOnGuest } from '@vulcan/shared';
import { afterEach, describe, expect, test } from 'vitest';
import { echoServe, FakeGuest } from '../helpers/fake-guest.js';

const request = { runtime: 'python' as const, code: 'print(1)', timeout_s: 0 };
let guest: FakeGuest | undefined;
afterEach(async () => {
  await guest?.stop();
  guest = undefined;
});

describe('hybrid vsock (Firecracker) transport', () => {
  test('does the CONNECT handshake, streams log lines and returns the result', async () => {
    guest = await new FakeGuest({ handshake: true, serve: echoServe }).start();
    const logs: LogMessage[] = [];
    const response = await runOnGuest(request, { path: guest.path, port: 1024, onLog: (l) => logs.push(l) });
    expect(guest.handshakes).toEqual(['CONNECT 1024\n']);
    expect(guest.requests).toEqual([request]);
    expect(logs).toEqual([
      { type: 'log', line: 'first', stream: 'stdout' },
      { type: 'log', line: 'second', stream: 'stderr' },
    ]);
    expect(response).toEqual({ exit_code: 0, output: 'print(1)', log_lines: ['second'] });
  });

  test('keeps guest bytes that arrive in the same chunk as the OK line', async () => {
    guest = await new FakeGuest({
      handshake: true,
      // The "guest" sends its whole answer glued to the handshake reply.
      reply: () => {
        const { encodeFrame, encodeMessage } = sharedModule;
        return `OK 7\n${Buffer.concat([
          encodeFrame(encodeMessage({ type: 'log', line: 'early' })),
          encodeFrame(encodeMessage({ type: 'result', response: { exit_code: 3, output: '' } })),
        ]).toString('latin1')}`;
      },
    }).start();
    const logs: string[] = [];
    const response = await runOnGuest(request, { path: guest.path, onLog: (l) => logs.push(l.line) });
    expect(logs).toEqual(['early']);
    expect(response.exit_code).toBe(3);
  });

  test('uses the configured port', async () => {
    guest = await new FakeGuest({ handshake: true, serve: echoServe }).start();
    await runOnGuest(request, { path: guest.path, port: 52 });
    expect(guest.handshakes).toEqual(['CONNECT 52\n']);
  });

  test('retries while nothing listens on the guest port, then succeeds', async () => {
    guest = await new FakeGuest({
      handshake: true,
      reply: (attempt) => (attempt < 2 ? 'close' : 'OK 1\n'),
      serve: echoServe,
    }).start();
    const response = await runOnGuest(request, { path: guest.path, backoffMs: 10 });
    expect(guest.handshakes).toHaveLength(3);
    expect(response.exit_code).toBe(0);
  });

  test('a CONNECT the VMM never answers is given up after the handshake timeout and retried', async () => {
    guest = await new FakeGuest({
      handshake: true,
      reply: (attempt) => (attempt === 0 ? 'silent' : 'OK 1\n'),
      serve: echoServe,
    }).start();
    const response = await runOnGuest(request, { path: guest.path, backoffMs: 10, handshakeTimeoutMs: 100 });
    expect(guest.handshakes).toHaveLength(2);
    expect(response.exit_code).toBe(0);
  });

  test('a VMM that never answers CONNECT ends in E_GUEST_UNREACHABLE, not a hang', async () => {
    guest = await new FakeGuest({ handshake: true, reply: () => 'silent' }).start();
    await expect(
      runOnGuest(request, { path: guest.path, attempts: 2, backoffMs: 5, handshakeTimeoutMs: 50 }),
    ).rejects.toMatchObject({ code: 'E_GUEST_UNREACHABLE', message: expect.stringContaining('no answer to CONNECT') });
  });

  test('gives up with E_GUEST_UNREACHABLE when the guest never listens', async () => {
    guest = await new FakeGuest({ handshake: true, reply: () => 'close' }).start();
    await expect(runOnGuest(request, { path: guest.path, attempts: 3, backoffMs: 5 })).rejects.toMatchObject({
      code: 'E_GUEST_UNREACHABLE',
    });
    expect(guest.handshakes).toHaveLength(3);
  });

  test('a garbled handshake reply is E_HANDSHAKE, not retried', async () => {
    guest = await new FakeGuest({ handshake: true, reply: () => 'ERROR no such port\n' }).start();
    await expect(runOnGuest(request, { path: guest.path, backoffMs: 5 })).rejects.toMatchObject({
      code: 'E_HANDSHAKE',
    });
    expect(guest.handshakes).toHaveLength(1);
  });

  test('waits for a VMM socket that appears only after a while', async () => {
    const later = new FakeGuest({ handshake: true, serve: echoServe });
    guest = later;
    expect(existsSync(later.path)).toBe(false);
    setTimeout(() => void later.start(), 150);
    const response = await runOnGuest(request, { path: later.path, attempts: 8, backoffMs: 25 });
    expect(response.output).toBe('print(1)');
  });
});

describe('plain unix transport', () => {
  test('talks to the agent without a handshake', async () => {
    guest = await new FakeGuest({ handshake: false, serve: echoServe }).start();
    const response = await runOnGuest(request, { path: guest.path, transport: 'unix' });
    expect(guest.handshakes).toEqual([]);
    expect(response.output).toBe('print(1)');
  });
});

describe('failures while waiting for the result', () => {
  test('abort after the first line rejects with E_ABORTED and closes the connection', async () => {
    let closed = false;
    guest = await new FakeGuest({
      handshake: true,
      serve: (_r, socket, send) => {
        socket.on('close', () => {
          closed = true;
        });
        send({ type: 'log', line: 'working' });
      },
    }).start();
    const controller = new AbortController();
    const pending = runOnGuest(request, {
      path: guest.path,
      signal: controller.signal,
      onLog: () => controller.abort(),
    });
    await expect(pending).rejects.toMatchObject({ code: 'E_ABORTED' });
    await expect.poll(() => closed).toBe(true);
  });

  test('an already-aborted signal fails before connecting', async () => {
    guest = await new FakeGuest({ handshake: true, serve: echoServe }).start();
    await expect(runOnGuest(request, { path: guest.path, signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'E_ABORTED',
    });
  });

  test('a deadline that passes is E_DEADLINE', async () => {
    guest = await new FakeGuest({ handshake: true, serve: () => undefined }).start();
    await expect(runOnGuest(request, { path: guest.path, deadline: Date.now() + 100 })).rejects.toMatchObject({
      code: 'E_DEADLINE',
    });
  });

  test('a guest that closes without a result is E_CONNECTION_CLOSED', async () => {
    guest = await new FakeGuest({
      handshake: true,
      serve: (_r, socket, send) => {
        send({ type: 'log', line: 'bye' });
        socket.end();
      },
    }).start();
    await expect(runOnGuest(request, { path: guest.path })).rejects.toMatchObject({ code: 'E_CONNECTION_CLOSED' });
  });

  test('a guest that closes mid-frame is E_FRAME_TRUNCATED', async () => {
    guest = await new FakeGuest({
      handshake: true,
      serve: (_r, socket) => {
        socket.end(Buffer.from([0, 0, 0, 50, 123]));
      },
    }).start();
    await expect(runOnGuest(request, { path: guest.path })).rejects.toMatchObject({ code: 'E_FRAME_TRUNCATED' });
  });

  test('a guest message of an unknown type is E_BAD_MESSAGE', async () => {
    guest = await new FakeGuest({
      handshake: true,
      serve: (_r, socket) => {
        socket.write(sharedModule.encodeFrame(Buffer.from('{"type":"progress"}')));
      },
    }).start();
    await expect(runOnGuest(request, { path: guest.path })).rejects.toMatchObject({ code: 'E_BAD_MESSAGE' });
  });

  test('dialGuest then exchange can be used separately', async () => {
    guest = await new FakeGuest({ handshake: true, serve: echoServe }).start();
    const connection = await dialGuest({ path: guest.path });
    expect((await exchange(connection, request)).exit_code).toBe(0);
  });
});
