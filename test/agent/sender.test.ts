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
