import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES, readFrames } from '@vulcan/shared';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';

const header = (length: number): Buffer => {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(length);
  return buf;
};

describe('encodeFrame', () => {
  test('prefixes the payload with its big-endian length', () => {
    expect(encodeFrame(Buffer.from('{"a":1}'))).toEqual(Buffer.from([0, 0, 0, 7, ...Buffer.from('{"a":1}')]));
    expect(encodeFrame(new Uint8Array(0))).toEqual(Buffer.from([0, 0, 0, 0]));
  });

  test('allows exactly 16 MiB and refuses one byte more', () => {
    expect(encodeFrame(new Uint8Array(MAX_FRAME_BYTES)).byteLength).toBe(MAX_FRAME_BYTES + 4);
    expect(() => encodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1))).toThrowError(
      expect.objectContaining({ code: 'E_FRAME_TOO_LARGE' }),
    );
  });
});

describe('FrameDecoder', () => {
  test('decodes many frames delivered in one chunk', () => {
    const frames = ['a', 'bb', '', 'dddd'].map((s) => encodeFrame(Buffer.from(s)));
    const decoder = new FrameDecoder();
    expect(decoder.push(Buffer.concat(frames)).map(String)).toEqual(['a', 'bb', '', 'dddd']);
    expect(() => decoder.end()).not.toThrow();
  });

  test('decodes a frame delivered one byte at a time', () => {
    const frame = encodeFrame(Buffer.from('{"type":"log"}'));
    const decoder = new FrameDecoder();
    const out: Buffer[] = [];
    for (const byte of frame) out.push(...decoder.push(Buffer.from([byte])));
    expect(out.map(String)).toEqual(['{"type":"log"}']);
    expect(decoder.bufferedBytes).toBe(0);
  });

  test('rejects an oversize length from the header alone, before any body arrives', () => {
    const decoder = new FrameDecoder();
    expect(() => decoder.push(header(MAX_FRAME_BYTES + 1))).toThrowError(
      expect.objectContaining({ code: 'E_FRAME_TOO_LARGE' }),
    );
    expect(decoder.bufferedBytes).toBe(0);
    // The stream has lost sync: the decoder stays failed.
    expect(() => decoder.push(Buffer.from('x'))).toThrowError(expect.objectContaining({ code: 'E_FRAME_TOO_LARGE' }));
  });

  test('accepts a header of exactly 16 MiB and waits for the body', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(header(MAX_FRAME_BYTES))).toEqual([]);
  });

  test('honours a smaller limit', () => {
    expect(() => new FrameDecoder(10).push(header(11))).toThrowError(
      expect.objectContaining({ code: 'E_FRAME_TOO_LARGE' }),
    );
  });

  test.each([
    ['a partial header', Buffer.from([0, 0])],
    ['a partial body', Buffer.concat([header(10), Buffer.from('abc')])],
    ['a header with no body', header(3)],
  ])('end() after %s is E_FRAME_TRUNCATED', (_name, bytes) => {
    const decoder = new FrameDecoder();
    decoder.push(bytes);
    expect(() => decoder.end()).toThrowError(expect.objectContaining({ code: 'E_FRAME_TRUNCATED' }));
  });

  test('any chunking of any frame sequence yields the same payloads (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }),
        (payloads, cuts) => {
          const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
          const decoder = new FrameDecoder();
          const out: Buffer[] = [];
          let offset = 0;
          let i = 0;
          while (offset < stream.byteLength) {
            const size = cuts[i++ % cuts.length] as number;
            out.push(...decoder.push(stream.subarray(offset, offset + size)));
            offset += size;
          }
          decoder.end();
          expect(out.map((b) => Buffer.from(b).toString('hex'))).toEqual(
            payloads.map((p) => Buffer.from(p).toString('hex')),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('readFrames', () => {
  async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
    for (const part of parts) yield part;
  }

  test('yields every frame of a stream and ends cleanly', async () => {
    const stream = Buffer.concat([encodeFrame(Buffer.from('one')), encodeFrame(Buffer.from('two'))]);
    const out: string[] = [];
    for await (const frame of readFrames(chunks(stream.subarray(0, 5), stream.subarray(5)))) out.push(String(frame));
    expect(out).toEqual(['one', 'two']);
  });

  test('a stream that ends mid-frame is an error, not a hang', async () => {
    const consume = async (): Promise<void> => {
      for await (const _ of readFrames(chunks(header(8), Buffer.from('1234')))) {
        // drain
      }
    };
    await expect(consume()).rejects.toMatchObject({ code: 'E_FRAME_TRUNCATED' });
  });
});
