import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ByteCapture, LineSplitter, utf8Boundary } from '../../../agent/src/run/output.js';

function split(chunks: Buffer[], max = 1024): { lines: string[]; bytes: number[] } {
  const lines: string[] = [];
  const bytes: number[] = [];
  const splitter = new LineSplitter(max, (line, n) => {
    lines.push(line);
    bytes.push(n);
  });
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return { lines, bytes };
}

describe('LineSplitter', () => {
  test('splits on \\n across chunks, drops \\r before \\n, and delivers a last line without newline', () => {
    expect(split([Buffer.from('a\nb'), Buffer.from('c\r\n\nd')]).lines).toEqual(['a', 'bc', '', 'd']);
  });

  test('counts the bytes each line took in the stream', () => {
    expect(split([Buffer.from('ab\r\nc\n')]).bytes).toEqual([4, 2]);
  });

  test('splits long lines at UTF-8 boundaries, never mid-character', () => {
    const text = 'é'.repeat(10); // 20 bytes
    const { lines } = split([Buffer.from(text)], 7);
    expect(lines.join('')).toBe(text);
    for (const line of lines) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(7);
    expect(lines.every((l) => !l.includes('\ufffd'))).toBe(true);
  });

  test('invalid UTF-8 becomes U+FFFD', () => {
    expect(split([Buffer.from([0x61, 0xff, 0x0a])]).lines).toEqual(['a\ufffd']);
  });

  test('any chunking through one reused read buffer yields the same lines and counts (property)', () => {
    // The agent reads every pipe into one buffer that the next read overwrites: nothing may be kept by reference.
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1 }),
        fc.constantFrom(4, 7, 1 << 20),
        (text, cuts, max) => {
          const bytes = Buffer.from(text);
          const reused = Buffer.alloc(16);
          const lines: string[] = [];
          const counts: number[] = [];
          const splitter = new LineSplitter(max, (line, n) => {
            lines.push(line);
            counts.push(n);
          });
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const size = Math.min(cuts[i % cuts.length] as number, bytes.length - at);
            bytes.copy(reused, 0, at, at + size);
            splitter.push(reused.subarray(0, size));
            reused.fill(0x0a);
            at += size;
          }
          splitter.end();
          const whole = split([bytes], max);
          expect(lines).toEqual(whole.lines);
          expect(counts).toEqual(whole.bytes);
        },
      ),
    );
  });
});

describe('utf8Boundary', () => {
  test('backs off over continuation bytes', () => {
    const buf = Buffer.from('aé'); // 61 c3 a9
    expect(utf8Boundary(buf, 2)).toBe(1);
    expect(utf8Boundary(buf, 1)).toBe(1);
    expect(utf8Boundary(buf, 3)).toBe(3);
  });
});

describe('ByteCapture', () => {
  test('keeps everything while under the caps', () => {
    const capture = new ByteCapture(8, 8);
    capture.push(Buffer.from('hello\n'));
    capture.push(Buffer.from('world\n'));
    expect(capture.truncated).toBe(false);
    expect(capture.text()).toBe('hello\nworld\n');
    expect(capture.lines(100)).toEqual(['hello', 'world']);
    expect(capture.total).toBe(12);
  });

  test('keeps head and tail, with a marker giving the exact number of bytes omitted', () => {
    const capture = new ByteCapture(4, 4);
    for (const c of ['0123', '4567', '89ab', 'cdef']) capture.push(Buffer.from(c));
    expect(capture.total).toBe(16);
    expect(capture.omitted).toBe(8);
    expect(capture.text()).toBe('0123\n[vulcan-guest: 8 bytes omitted]\ncdef');
  });

  test('the tail ring wraps correctly for any sequence of chunks (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        (chunks, head, tail) => {
          const capture = new ByteCapture(head, tail);
          for (const c of chunks) capture.push(Buffer.from(c));
          const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
          expect(capture.total).toBe(all.length);
          expect(capture.head()).toEqual(all.subarray(0, Math.min(head, all.length)));
          const rest = all.subarray(Math.min(head, all.length));
          expect(capture.tail()).toEqual(rest.subarray(Math.max(0, rest.length - tail)));
        },
      ),
    );
  });

  test('lines() drops the cut partial lines and says how much was omitted', () => {
    const capture = new ByteCapture(10, 10);
    capture.push(Buffer.from('first\nsecond line\nmiddle\nlast-1\nlast\n'));
    expect(capture.lines(100)).toEqual(['first', '[vulcan-guest: 26 bytes omitted]', 'last']);
  });
});
