import { EventEmitter } from 'node:events';
import net from 'node:net';
import { encodeMessage, FrameDecoder, type LogStream } from '@vulcan/shared';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FrameSender } from '../../agent/src/sender.js';

// The sender's fast encoding of log lines, its batching and its 4 KiB slices must
// still put on the wire exactly what encodeMessage — and Go — would write.
let server: net.Server;
let path = '';
beforeAll(async () => {
  path = `/tmp/sender-test-${process.pid}.sock`;
  server = net.createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Sends lines through a FrameSender over a real socket; returns the frames the peer received. */
async function roundTrip(lines: [string, LogStream][]): Promise<Buffer[]> {
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.createConnection(path);
  const agentSide = await accepted;
  const sender = new FrameSender(agentSide, 1 << 20);
  const decoder = new FrameDecoder();
  const frames: Buffer[] = [];
  client.on('data', (chunk) => frames.push(...decoder.push(chunk)));
  const closed = new Promise((resolve) => client.on('close', resolve));
  for (const [line, stream] of lines) sender.sendLog(line, stream);
  await sender.finish(5000);
  client.end();
  await closed;
  return frames;
}

describe('FrameSender.sendLog', () => {
  test('frames equal encodeMessage for any line, with seq counting every line (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.oneof(
              fc.uint8Array({ maxLength: 40 }),
              fc.string({ maxLength: 40 }).map((s) => new Uint8Array(Buffer.from(s))),
            ),
            fc.constantFrom<LogStream>('stdout', 'stderr'),
          ),
          { minLength: 1, maxLength: 30 },
        ),
        async (entries) => {
          // Lines as the agent makes them: decoded from bytes, so invalid UTF-8 is already U+FFFD.
          const lines = entries.map(
            ([bytes, stream]) => [Buffer.from(bytes).toString('utf8'), stream] as [string, LogStream],
          );
          const frames = await roundTrip(lines);
          expect(frames.map((f) => f.toString('hex'))).toEqual(
            lines.map(([line, stream], i) => encodeMessage({ type: 'log', line, stream, seq: i + 1 }).toString('hex')),
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  test('a batch far larger than one write slice arrives whole and in order', async () => {
    const lines: [string, LogStream][] = Array.from({ length: 5000 }, (_, i) => [
      `line ${i} ${'x'.repeat(i % 97)}`,
      i % 3 ? 'stdout' : 'stderr',
    ]);
    const frames = await roundTrip(lines);
    expect(frames).toHaveLength(5000);
    expect(frames.at(-1)?.toString()).toBe(
      encodeMessage({ type: 'log', line: lines[4999]?.[0] ?? '', stream: 'stdout', seq: 5000 }).toString(),
    );
  });
});

describe('FrameSender chunks', () => {
  test('a frame larger than a chunk goes out whole, in order with the lines around it', async () => {
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.createConnection(path);
    const sender = new FrameSender(await accepted, 1 << 20);
    const decoder = new FrameDecoder();
    const frames: Buffer[] = [];
    client.on('data', (chunk) => frames.push(...decoder.push(chunk)));
    const closed = new Promise((resolve) => client.on('close', resolve));
    const longLine = 'é'.repeat(50_000); // 100 kB of UTF-8 in one log frame
    const result = { type: 'result', response: { exit_code: 0, output: 'y'.repeat(300_000) } } as const;
    sender.sendLog('before', 'stdout');
    sender.sendLog(longLine, 'stderr');
    sender.send(result);
    await sender.finish(5000);
    client.end();
    await closed;
    expect(frames.map((f) => f.toString('hex'))).toEqual(
      [
        encodeMessage({ type: 'log', line: 'before', stream: 'stdout', seq: 1 }),
        encodeMessage({ type: 'log', line: longLine, stream: 'stderr', seq: 2 }),
        encodeMessage(result),
      ].map((f) => f.toString('hex')),
    );
  });

  test('a host that stops reading congests the sender; once it reads again every frame arrives intact', async () => {
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.createConnection(path);
    const agentSide = await accepted;
    const sender = new FrameSender(agentSide, 256 * 1024);
    client.pause();
    const decoder = new FrameDecoder();
    const frames: Buffer[] = [];
    client.on('data', (chunk) => frames.push(...decoder.push(chunk)));
    const closed = new Promise((resolve) => client.on('close', resolve));
    const lines = Array.from({ length: 40_000 }, (_, i) => `line ${i} ${'z'.repeat(i % 50)}`);
    let sent = 0;
    let drains = 0;
    // Produce like the agent: until congested, then wait for the drain. The host reads again a little later.
    await new Promise<void>((resolve) => {
      const produce = (): void => {
        while (sent < lines.length && !sender.congested) {
          sender.sendLog(lines[sent] as string, 'stdout');
          sent++;
        }
        if (sent === lines.length) {
          resolve();
          return;
        }
        if (drains++ === 0) setTimeout(() => client.resume(), 100);
        sender.onDrain(produce);
      };
      produce();
    });
    expect(drains).toBeGreaterThan(1);
    await sender.finish(10_000);
    client.end();
    await closed;
    expect(frames).toHaveLength(lines.length);
    const wrong = frames.findIndex(
      (frame, i) =>
        frame.toString() !==
        encodeMessage({ type: 'log', line: lines[i] as string, stream: 'stdout', seq: i + 1 }).toString(),
    );
    expect(wrong).toBe(-1);
  });
});

/** A socket whose writes complete only when the test says so, keeping what each write was handed. */
class HeldSocket extends EventEmitter {
  readonly writes: { bytes: Buffer; copy: Buffer; done: (error?: Error) => void }[] = [];
  destroyed = false;
  writableLength = 0;
  write(bytes: Buffer, done: (error?: Error) => void): boolean {
    this.writes.push({ bytes, copy: Buffer.from(bytes), done });
    return true;
  }
  end(done: () => void): void {
    done();
  }
}

test('no byte handed to the socket changes before its write completes, while more frames are queued', async () => {
  const socket = new HeldSocket();
  const sender = new FrameSender(socket as unknown as net.Socket, 1 << 20);
  const lines = Array.from({ length: 6000 }, (_, i) => `${i} ${'w'.repeat(i % 200)}`);
  const written: Buffer[] = [];
  let next = 0;
  // Small bursts, and a write completes only every other burst: the sender keeps up, so chunks are
  // rewound and reused all along — while the last slice handed out from them is still in flight.
  for (let burst = 0; next < lines.length || socket.writes.length > 0; burst++) {
    for (let n = 0; n < 12 && next < lines.length; n++, next++) sender.sendLog(lines[next] as string, 'stdout');
    sender.flush();
    if (burst % 2 !== 0 && next < lines.length) continue;
    const write = socket.writes.shift();
    if (!write) continue;
    expect(write.bytes.equals(write.copy)).toBe(true);
    written.push(write.copy);
    write.done();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const frames = new FrameDecoder().push(Buffer.concat(written));
  expect(frames.map((f) => f.toString())).toEqual(
    lines.map((line, i) => encodeMessage({ type: 'log', line, stream: 'stdout', seq: i + 1 }).toString()),
  );
});
