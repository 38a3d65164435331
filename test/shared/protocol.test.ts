import {
  decodeAgentRequest,
  decodeMessage,
  decodeRequest,
  encodeMessage,
  encodeRequest,
  type GuestMessage,
  type GuestRequest,
  goJSONStringify,
  type LogMessage,
  type LogStream,
  logMessageJSON,
  VulcanError,
} from '@vulcan/shared';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';

function badRequest(json: unknown): VulcanError {
  try {
    decodeRequest(typeof json === 'string' ? json : JSON.stringify(json));
  } catch (error) {
    return error as VulcanError;
  }
  throw new Error('expected decodeRequest to throw');
}

describe('decodeRequest', () => {
  test('decodes the fields the Go host fills, with base64 bytes', () => {
    const request = decodeRequest(
      JSON.stringify({
        runtime: 'python',
        code: 'print(1)',
        code_archive: Buffer.from([1, 2, 3]).toString('base64'),
        input: Buffer.from('stdin\n').toString('base64'),
        timeout_s: 7,
      }),
    );
    expect(request).toEqual({
      runtime: 'python',
      code: 'print(1)',
      code_archive: Buffer.from([1, 2, 3]),
      input: Buffer.from('stdin\n'),
      timeout_s: 7,
    });
  });

  test('defaults missing and null fields as Go does', () => {
    expect(decodeRequest('{"runtime":"node","code":null,"env":null,"input":null}')).toEqual({
      runtime: 'node',
      code: '',
      timeout_s: 0,
    });
  });

  test('ignores unknown keys', () => {
    expect(decodeRequest('{"runtime":"go","code":"x","future_key":{"a":[1]},"timeout_s":3}')).toEqual({
      runtime: 'go',
      code: 'x',
      timeout_s: 3,
    });
  });

  test('matches keys case-insensitively like Go, an exact key winning and later keys overwriting', () => {
    expect(decodeRequest('{"Runtime":"go","CODE":"a","Timeout_S":4}')).toMatchObject({
      runtime: 'go',
      code: 'a',
      timeout_s: 4,
    });
    expect(decodeRequest('{"runtime":"go","Runtime":"node","code":""}').runtime).toBe('node');
  });

  test('accepts base64 with line breaks, as Go does', () => {
    const request = decodeRequest('{"runtime":"go","code":"","input":"aGVs\\r\\nbG8="}');
    expect(Buffer.from(request.input ?? []).toString()).toBe('hello');
  });

  test('keeps env and entrypoint', () => {
    expect(
      decodeRequest('{"runtime":"go","code":"","env":{"A":"1","_b2":""},"entrypoint":"cmd/main.go"}'),
    ).toMatchObject({ env: { A: '1', _b2: '' }, entrypoint: 'cmd/main.go' });
  });

  test.each([
    ['not JSON', '{"runtime":', 'E_BAD_JSON', undefined],
    ['an array', '[1]', 'E_BAD_REQUEST', 'request'],
    ['null', 'null', 'E_BAD_REQUEST', 'request'],
    ['a missing runtime', { code: 'x' }, 'E_BAD_REQUEST', 'runtime'],
    ['an unsupported runtime', { runtime: 'ruby', code: 'x' }, 'E_BAD_REQUEST', 'runtime'],
    ['a numeric runtime', { runtime: 3, code: 'x' }, 'E_BAD_REQUEST', 'runtime'],
    ['a numeric code', { runtime: 'go', code: 5 }, 'E_BAD_REQUEST', 'code'],
    ['a non-base64 archive', { runtime: 'go', code: '', code_archive: 'not base64!' }, 'E_BAD_REQUEST', 'code_archive'],
    ['unpadded base64 input', { runtime: 'go', code: '', input: 'aGk' }, 'E_BAD_REQUEST', 'input'],
    ['a numeric archive', { runtime: 'go', code: '', code_archive: 12 }, 'E_BAD_REQUEST', 'code_archive'],
    ['an env array', { runtime: 'go', code: '', env: ['A=1'] }, 'E_BAD_REQUEST', 'env'],
    ['a bad env name', { runtime: 'go', code: '', env: { '1BAD': 'x' } }, 'E_BAD_REQUEST', 'env.1BAD'],
    ['an env name with =', { runtime: 'go', code: '', env: { 'A=B': 'x' } }, 'E_BAD_REQUEST', 'env.A=B'],
    ['a non-string env value', { runtime: 'go', code: '', env: { A: 1 } }, 'E_BAD_REQUEST', 'env.A'],
    ['a NUL in an env value', { runtime: 'go', code: '', env: { A: 'a\0b' } }, 'E_BAD_REQUEST', 'env.A'],
    ['a NUL in the entrypoint', { runtime: 'go', code: '', entrypoint: 'a\0b' }, 'E_BAD_REQUEST', 'entrypoint'],
    ['a string timeout', { runtime: 'go', code: '', timeout_s: '5' }, 'E_BAD_REQUEST', 'timeout_s'],
    ['a fractional timeout', { runtime: 'go', code: '', timeout_s: 1.5 }, 'E_BAD_REQUEST', 'timeout_s'],
    ['a negative timeout', { runtime: 'go', code: '', timeout_s: -1 }, 'E_BAD_REQUEST', 'timeout_s'],
    ['a huge timeout', { runtime: 'go', code: '', timeout_s: 1e9 }, 'E_BAD_REQUEST', 'timeout_s'],
  ])('refuses %s with a typed error naming the field', (_name, json, code, field) => {
    const error = badRequest(json);
    expect(error).toBeInstanceOf(VulcanError);
    expect(error.code).toBe(code);
    if (field !== undefined) {
      expect(error.field).toBe(field);
      expect(error.message).toContain(field);
    }
  });

  test('the runtime error lists the supported runtimes', () => {
    expect(badRequest({ runtime: 'ruby', code: '' }).message).toContain('go, node, python');
  });
});

describe('extension keys of a request', () => {
  test('limits are decoded, 0 and null meaning the default', () => {
    expect(
      decodeRequest(
        '{"runtime":"go","code":"","memory_mb":64,"max_pids":10,"max_file_bytes":4096,"stream_limit_bytes":0,"output_limit_bytes":null,"log_limit_bytes":100}',
      ),
    ).toEqual({
      runtime: 'go',
      code: '',
      timeout_s: 0,
      memory_mb: 64,
      max_pids: 10,
      max_file_bytes: 4096,
      log_limit_bytes: 100,
    });
  });

  test.each([
    ['memory_mb', -1],
    ['max_pids', 1.5],
    ['stream_limit_bytes', '10'],
  ])('a bad %s (%j) is E_BAD_REQUEST naming it', (key, value) => {
    expect(badRequest({ runtime: 'go', code: '', [key]: value })).toMatchObject({ code: 'E_BAD_REQUEST', field: key });
  });

  test('{"type":"ping"} is a ping; no type or "run" is a run; anything else is refused', () => {
    expect(decodeAgentRequest('{"type":"ping"}')).toEqual({ type: 'ping' });
    expect(decodeAgentRequest('{"Type":"ping","runtime":"nope"}')).toEqual({ type: 'ping' });
    expect(decodeAgentRequest('{"type":"run","runtime":"go","code":""}')).toEqual({
      runtime: 'go',
      code: '',
      timeout_s: 0,
    });
    expect(() => decodeAgentRequest('{"type":"reboot"}')).toThrowError(
      expect.objectContaining({ code: 'E_BAD_REQUEST', field: 'type' }),
    );
  });

  test('limits are encoded after Go’s keys', () => {
    expect(encodeRequest({ runtime: 'go', code: '', timeout_s: 1, memory_mb: 8, log_limit_bytes: 9 }).toString()).toBe(
      '{"runtime":"go","code":"","timeout_s":1,"memory_mb":8,"log_limit_bytes":9}',
    );
  });
});

describe('encodeRequest', () => {
  test('writes Go field order, omits empty optional fields and sorts env keys', () => {
    const request: GuestRequest = {
      runtime: 'go',
      code: 'a<b>&c',
      code_archive: new Uint8Array(),
      env: { Z: '1', A: '2' },
      timeout_s: 0,
    };
    expect(encodeRequest(request).toString()).toBe(
      '{"runtime":"go","code":"a\\u003cb\\u003e\\u0026c","env":{"A":"2","Z":"1"},"timeout_s":0}',
    );
  });

  test('round-trips through decodeRequest', () => {
    const request: GuestRequest = {
      runtime: 'node',
      code: 'console.log("é 漢 \u2028")',
      code_archive: Buffer.from([0, 255, 1]),
      input: Buffer.from([10, 20]),
      env: { HOME_X: 'y' },
      entrypoint: 'src/index.js',
      timeout_s: 12,
    };
    expect(decodeRequest(encodeRequest(request))).toEqual(request);
  });
});

describe('guest messages', () => {
  test('log lines carry the stream tag after Go’s keys, and omit an empty line like Go', () => {
    expect(encodeMessage({ type: 'log', line: 'x', stream: 'stderr' }).toString()).toBe(
      '{"type":"log","line":"x","stream":"stderr"}',
    );
    expect(encodeMessage({ type: 'log', line: '' }).toString()).toBe('{"type":"log"}');
  });

  test('results put Go’s keys first, omit empty error/log_lines, then the extensions', () => {
    const message: GuestMessage = {
      type: 'result',
      response: {
        truncated: false,
        duration_ms: 12,
        timed_out: true,
        error: 'timed out after 1s',
        output: '',
        exit_code: 137,
        log_lines: [],
        signal: 'SIGKILL',
        status: 'timeout',
        error_code: 'E_TIMEOUT',
      },
    };
    expect(encodeMessage(message).toString()).toBe(
      '{"type":"result","response":{"exit_code":137,"output":"","error":"timed out after 1s","status":"timeout",' +
        '"error_code":"E_TIMEOUT","timed_out":true,"signal":"SIGKILL","duration_ms":12,"truncated":false}}',
    );
    expect(decodeMessage(encodeMessage(message))).toEqual({
      ...message,
      response: { ...message.response, log_lines: undefined },
    });
  });

  test.each([
    ['an unknown type', '{"type":"progress"}', 'type'],
    ['a result without response', '{"type":"result"}', 'response'],
    ['a result with a null response', '{"type":"result","response":null}', 'response'],
    ['a non-integer exit code', '{"type":"result","response":{"exit_code":"0","output":""}}', 'exit_code'],
    ['a bad stream tag', '{"type":"log","line":"x","stream":"stdin"}', 'stream'],
  ])('the host refuses %s', (_name, json, field) => {
    expect(() => decodeMessage(json)).toThrowError(expect.objectContaining({ code: 'E_BAD_MESSAGE', field }));
  });

  test('log lines carry seq last; the fast encoder writes exactly what encodeMessage writes (property)', () => {
    expect(encodeMessage({ type: 'log', line: 'x', stream: 'stdout', seq: 7 }).toString()).toBe(
      '{"type":"log","line":"x","stream":"stdout","seq":7}',
    );
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme' }),
        fc.constantFrom<LogStream | undefined>('stdout', 'stderr', undefined),
        fc.option(fc.nat(), { nil: undefined }),
        (line, stream, seq) => {
          const message: LogMessage = { type: 'log', line };
          if (stream) message.stream = stream;
          if (seq !== undefined) message.seq = seq;
          expect(logMessageJSON(line, stream, seq)).toBe(encodeMessage(message).toString());
          expect(decodeMessage(logMessageJSON(line, stream, seq))).toEqual(message);
        },
      ),
    );
  });

  test('results with every extension key round-trip', () => {
    const response = {
      exit_code: 0,
      output: 'x',
      status: 'ok' as const,
      stdout_bytes: 2,
      stderr_bytes: 0,
      output_truncated: false,
      log_truncated: false,
      stream_truncated: false,
      cpu_ms: 12,
      memory_peak_bytes: 1024,
      oom_killed: false,
      limits: { timeout_s: 5, max_file_bytes: 512, stream_limit_bytes: 1, output_limit_bytes: 2, log_limit_bytes: 3 },
      agent_version: '1.2.3',
      node_version: 'v24.0.0',
      uptime_ms: 5,
      runtimes: ['python'],
    };
    expect(decodeMessage(encodeMessage({ type: 'result', response }))).toEqual({ type: 'result', response });
  });

  test('the host ignores unknown keys of a message', () => {
    expect(decodeMessage('{"type":"log","line":"a","future":3,"extra":{}}')).toEqual({ type: 'log', line: 'a' });
  });
});

describe('goJSONStringify', () => {
  test('escapes like Go and replaces lone surrogates with U+FFFD', () => {
    expect(goJSONStringify({ s: '<&>\u2028\u2029\b\f\u0001' })).toBe(
      '{"s":"\\u003c\\u0026\\u003e\\u2028\\u2029\\b\\f\\u0001"}',
    );
    expect(goJSONStringify('a\ud800b\udc00c')).toBe('"a\\ufffdb\\ufffdc"');
    expect(goJSONStringify('\ud83d\ude00')).toBe('"\ud83d\ude00"');
  });
});
