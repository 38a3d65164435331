import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  decodeMessage,
  decodeRequest,
  encodeFrame,
  encodeMessage,
  encodeRequest,
  FrameDecoder,
  type GuestMessage,
  type GuestRequest,
} from '@vulcan/shared';
import { beforeAll, describe, expect, test } from 'vitest';

/** Golden vectors written by test/go-compat (Go's encoding/json), committed under shared/testdata. */
interface Vector {
  name: string;
  frame: string;
  value: Record<string, unknown>;
}
const root = path.resolve(import.meta.dirname, '../..');
const vectorsPath = path.join(root, 'shared/testdata/go-vectors.json');
const vectors = JSON.parse(readFileSync(vectorsPath, 'utf8')) as { requests: Vector[]; messages: Vector[] };
const payloadOf = (frame: string): Buffer => {
  const bytes = Buffer.from(frame, 'base64');
  expect(bytes.readUInt32BE(0)).toBe(bytes.byteLength - 4);
  return bytes.subarray(4);
};

/** The value a Go host marshals, for our decoded request (bytes as base64, Go's zero values). */
function asGoValue(request: GuestRequest): Record<string, unknown> {
  return JSON.parse(encodeRequest(request).toString()) as Record<string, unknown>;
}

describe('golden vectors from Go', () => {
  test.each(vectors.requests.map((v) => [v.name, v] as const))(
    'request %s decodes and re-encodes byte for byte',
    (_n, v) => {
      const payload = payloadOf(v.frame);
      const request = decodeRequest(payload);
      expect(asGoValue(request)).toEqual(v.value);
      expect(encodeFrame(encodeRequest(request)).toString('base64')).toBe(v.frame);
    },
  );

  test.each(vectors.messages.map((v) => [v.name, v] as const))(
    'message %s decodes and re-encodes byte for byte',
    (_n, v) => {
      const message = decodeMessage(payloadOf(v.frame));
      expect(JSON.parse(encodeMessage(message).toString())).toEqual(v.value);
      expect(encodeFrame(encodeMessage(message)).toString('base64')).toBe(v.frame);
    },
  );
});

const hasGo = spawnSync('go', ['version']).status === 0;

describe.skipIf(!hasGo)('round trip with a Go program (go-compat)', () => {
  let bin = '';
  beforeAll(() => {
    bin = path.join(mkdtempSync(path.join(tmpdir(), 'go-compat-')), 'go-compat');
    execFileSync('go', ['build', '-o', bin, '.'], {
      cwd: path.join(root, 'test/go-compat'),
      env: { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0' },
      stdio: 'inherit',
    });
  }, 120_000);

  test('the committed vectors are exactly what Go generates today', () => {
    const fresh = JSON.parse(execFileSync(bin, ['vectors']).toString());
    expect(fresh).toEqual(vectors);
  });

  test('a Go host decodes requests with limit keys, keeping its own fields', () => {
    const request: GuestRequest = {
      runtime: 'python',
      code: 'x',
      timeout_s: 3,
      memory_mb: 64,
      max_pids: 9,
      stream_limit_bytes: 1,
    };
    const theirs = execFileSync(bin, ['echo-requests'], { input: encodeFrame(encodeRequest(request)) });
    const { runtime, code, timeout_s } = request;
    expect(theirs.toString('hex')).toBe(encodeFrame(encodeRequest({ runtime, code, timeout_s })).toString('hex'));
  });

  test('Go re-encodes our request frames to the very same bytes', () => {
    const requests: GuestRequest[] = [
      { runtime: 'python', code: 'print("<hi> & bye")\n', timeout_s: 0 },
      {
        runtime: 'go',
        code: 'package main\n\u2028\u2029\t\b\f\u0000 é 漢 😀',
        code_archive: new Uint8Array([31, 139, 8, 0, 255]),
        input: new Uint8Array(Buffer.from('line\n')),
        env: { b: '2', A: '1', _c: '<&>' },
        entrypoint: 'cmd/app/main.go',
        timeout_s: 86400,
      },
      { runtime: 'node', code: '', env: {}, input: new Uint8Array(), timeout_s: 1 },
    ];
    const ours = Buffer.concat(requests.map((r) => encodeFrame(encodeRequest(r))));
    const theirs = execFileSync(bin, ['echo-requests'], { input: ours });
    expect(theirs.toString('hex')).toBe(ours.toString('hex'));
  });

  test('a Go host accepts our guest frames, extensions included, and ignores what it does not know', () => {
    const messages: GuestMessage[] = [
      { type: 'log', line: 'out <1>', stream: 'stdout', seq: 1 },
      { type: 'log', line: '', stream: 'stderr', seq: 2 },
      { type: 'log', line: 'bad \ufffd byte' },
      {
        type: 'result',
        response: {
          exit_code: 137,
          output: 'partial\n',
          error: 'timed out after 2s',
          log_lines: ['e1'],
          status: 'timeout',
          error_code: 'E_TIMEOUT',
          timed_out: true,
          signal: 'SIGKILL',
          duration_ms: 2004,
          truncated: true,
          stdout_bytes: 8,
          stderr_bytes: 3,
          output_truncated: false,
          log_truncated: false,
          stream_truncated: true,
          cpu_ms: 1999,
          memory_peak_bytes: 52428800,
          oom_killed: false,
          limits: {
            timeout_s: 2,
            memory_mb: 80,
            max_pids: 512,
            max_file_bytes: 512,
            stream_limit_bytes: 8,
            output_limit_bytes: 1,
            log_limit_bytes: 1,
          },
        },
      },
      {
        type: 'result',
        response: {
          exit_code: 0,
          output: '',
          status: 'ok',
          agent_version: '0.1.0',
          node_version: 'v24.22.3',
          uptime_ms: 1,
          runtimes: ['go'],
        },
      },
    ];
    const stream = Buffer.concat(messages.map((m) => encodeFrame(encodeMessage(m))));
    const lines = execFileSync(bin, ['host-read'], { input: stream }).toString().trim().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { type: 'log', line: 'out <1>' },
      { type: 'log' },
      { type: 'log', line: 'bad \ufffd byte' },
      {
        type: 'result',
        response: { exit_code: 137, output: 'partial\n', error: 'timed out after 2s', log_lines: ['e1'] },
      },
      { type: 'result', response: { exit_code: 0, output: '' } },
    ]);
  });

  test('a Go host rejects what the protocol forbids (the checks our decoder mirrors)', () => {
    const cases: [string, string][] = [
      ['{"type":"result"}', 'result without response'],
      ['{"type":"progress"}', 'unexpected message type progress'],
    ];
    for (const [json, expected] of cases) {
      const out = execFileSync(bin, ['host-read'], { input: encodeFrame(Buffer.from(json)) }).toString();
      expect(JSON.parse(out)).toEqual({ host_error: expected });
      expect(() => decodeMessage(json)).toThrowError(expect.objectContaining({ code: 'E_BAD_MESSAGE' }));
    }
    const oversize = Buffer.alloc(4);
    oversize.writeUInt32BE(16 * 1024 * 1024 + 1);
    expect(JSON.parse(execFileSync(bin, ['host-read'], { input: oversize }).toString())).toEqual({
      host_error: 'message too large: 16777217',
    });
    expect(() => new FrameDecoder().push(oversize)).toThrowError(
      expect.objectContaining({ code: 'E_FRAME_TOO_LARGE' }),
    );
  });
});
