import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { workloadEnv } from '../../../agent/src/run/environment.js';
import { lookupUser } from '../../../agent/src/run/identity.js';
import { applyLimits } from '../../../agent/src/run/limits.js';
import { goTargets } from '../../../agent/src/run/runtimes.js';
import { describeOutcome, failureFrom } from '../../../agent/src/run/workload.js';

const limits = {
  timeout_s: 5,
  memory_mb: 64,
  max_pids: 512,
  max_file_bytes: 4096,
  stream_limit_bytes: 1 << 20,
  output_limit_bytes: 1 << 20,
  log_limit_bytes: 1 << 19,
};
const facts = { timedOut: false, stats: {}, limits };

describe('describeOutcome', () => {
  test.each([
    [{ code: 0, signal: null }, facts, { exit_code: 0, status: 'ok', timed_out: false }],
    [{ code: 2, signal: null }, facts, { exit_code: 2, status: 'exit_nonzero', error: 'exit status 2' }],
    [
      { code: null, signal: 'SIGKILL' },
      { ...facts, timedOut: true },
      { exit_code: 124, status: 'timeout', error: 'timed out after 5s', timed_out: true, error_code: 'E_TIMEOUT' },
    ],
    [
      { code: null, signal: 'SIGSEGV' },
      facts,
      { exit_code: 139, status: 'signal', signal: 'SIGSEGV', error: 'killed by signal 11 (SIGSEGV)' },
    ],
    [
      { code: null, signal: 'SIGXFSZ' },
      facts,
      {
        exit_code: 153,
        status: 'signal',
        error: 'killed by signal 25 (SIGXFSZ): file size limit of 4096 bytes exceeded',
      },
    ],
    [
      { code: null, signal: 'SIGKILL' },
      { ...facts, stats: { oomKills: 1 } },
      { exit_code: 137, status: 'oom', error_code: 'E_OOM', error: 'killed by the OOM killer (memory limit 64 MiB)' },
    ],
    [
      { code: 1, signal: null },
      { ...facts, stats: { oomKills: 2 } },
      {
        exit_code: 1,
        status: 'oom',
        error: 'exit status 1 after the OOM killer killed a process (memory limit 64 MiB)',
      },
    ],
    [
      { code: null, signal: 'SIGKILL' },
      { ...facts, timedOut: true, stats: { pidsMaxHits: 40 } },
      {
        exit_code: 124,
        status: 'pids_limit',
        error_code: 'E_PIDS_LIMIT',
        timed_out: true,
        error: 'timed out after 5s; the process limit (512) was reached',
      },
    ],
    [
      { code: 0, signal: null },
      { ...facts, stats: { oomKills: 1, pidsMaxHits: 1 } },
      { exit_code: 0, status: 'ok' },
    ],
  ] as const)('%j with %j → %j', (outcome, outcomeFacts, expected) => {
    expect(describeOutcome(outcome as never, outcomeFacts)).toMatchObject(expected);
  });
});

describe('applyLimits', () => {
  const capabilities = { defaultTimeoutS: 30, memoryMaxBytes: 80 * 1024 * 1024, pids: true };
  const request = { runtime: 'python' as const, code: '', timeout_s: 0 };

  test('defaults', () => {
    expect(applyLimits(request, capabilities)).toEqual({
      timeout_s: 30,
      memory_mb: 80,
      max_pids: 512,
      max_file_bytes: 128 * 1024 * 1024,
      stream_limit_bytes: 1024 * 1024 * 1024,
      output_limit_bytes: 1024 * 1024,
      log_limit_bytes: 512 * 1024,
    });
  });

  test('a request may lower every limit', () => {
    expect(
      applyLimits(
        {
          ...request,
          timeout_s: 3,
          memory_mb: 20,
          max_pids: 8,
          max_file_bytes: 1000,
          stream_limit_bytes: 10,
          output_limit_bytes: 100,
          log_limit_bytes: 50,
        },
        capabilities,
      ),
    ).toEqual({
      timeout_s: 3,
      memory_mb: 20,
      max_pids: 8,
      max_file_bytes: 1024,
      stream_limit_bytes: 10,
      output_limit_bytes: 100,
      log_limit_bytes: 50,
    });
  });

  test('but never raise one past the agent’s maximum', () => {
    const huge = 1e12;
    expect(
      applyLimits(
        {
          ...request,
          memory_mb: huge,
          max_pids: huge,
          max_file_bytes: huge,
          stream_limit_bytes: huge,
          output_limit_bytes: huge,
          log_limit_bytes: huge,
        },
        capabilities,
      ),
    ).toEqual({
      timeout_s: 30,
      memory_mb: 80,
      max_pids: 4096,
      max_file_bytes: 1024 * 1024 * 1024,
      stream_limit_bytes: 1024 * 1024 * 1024,
      output_limit_bytes: 1024 * 1024,
      log_limit_bytes: 512 * 1024,
    });
  });

  test('no memory or pids limit where the controllers are missing', () => {
    const limits = applyLimits(
      { ...request, memory_mb: 10, max_pids: 10 },
      { defaultTimeoutS: 30, memoryMaxBytes: undefined, pids: false },
    );
    expect(limits.memory_mb).toBeUndefined();
    expect(limits.max_pids).toBeUndefined();
  });
});

describe('failureFrom', () => {
  test('an unexpected exception is an internal error result, never a throw', () => {
    expect(failureFrom(new Error('boom'))).toEqual({
      exit_code: 1,
      output: '',
      error: 'internal error: boom',
      status: 'internal_error',
      error_code: 'E_INTERNAL',
    });
  });
});

describe('lookupUser', () => {
  test('parses /etc/passwd lines', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'passwd-')), 'passwd');
    writeFileSync(file, 'root:x:0:0:root:/root:/bin/sh\nvulcan:x:1000:1000::/home/vulcan:/bin/sh\nbroken:x\n');
    expect(lookupUser('vulcan', file)).toEqual({ name: 'vulcan', uid: 1000, gid: 1000 });
    expect(lookupUser('broken', file)).toBeUndefined();
    expect(lookupUser('missing', file)).toBeUndefined();
    expect(lookupUser('x', '/nonexistent')).toBeUndefined();
  });
});

describe('workloadEnv', () => {
  test('a clean base the request can override', () => {
    const env = workloadEnv({
      user: 'vulcan',
      home: '/tmp/h',
      goCache: '/nonexistent',
      extra: { PATH: '/custom', X: '1' },
    });
    expect(env).toMatchObject({
      PATH: '/custom',
      X: '1',
      HOME: '/tmp/h',
      TMPDIR: '/tmp/h/tmp',
      GOCACHE: '/tmp/h/.cache/go-build',
      USER: 'vulcan',
    });
  });
});

describe('goTargets', () => {
  const dir = (files: Record<string, string>): string => {
    const root = mkdtempSync(path.join(tmpdir(), 'gotargets-'));
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(root, name);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
    return root;
  };

  test('a lone file is built as a file', () => {
    expect(goTargets(dir({ 'main.go': '' }), 'main.go')).toEqual(['main.go']);
  });

  test('several files of the entrypoint directory are built together, tests excluded', () => {
    expect(goTargets(dir({ 'main.go': '', 'util.go': '', 'x_test.go': '' }), 'main.go')).toEqual([
      'main.go',
      'util.go',
    ]);
  });

  test('with a go.mod, the entrypoint’s package is built', () => {
    expect(goTargets(dir({ 'go.mod': '', 'cmd/app/main.go': '' }), 'cmd/app/main.go')).toEqual(['./cmd/app']);
    expect(goTargets(dir({ 'go.mod': '', 'main.go': '' }), 'main.go')).toEqual(['.']);
  });
});
