import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { workloadEnv } from '../../../agent/src/run/environment.js';
import { lookupUser } from '../../../agent/src/run/identity.js';
import { goTargets } from '../../../agent/src/run/runtimes.js';
import { describeOutcome, failureFrom } from '../../../agent/src/run/workload.js';

const facts = { timedOut: false, timeoutS: 5, stats: {}, memoryMaxBytes: undefined };

describe('describeOutcome', () => {
  test.each([
    [{ code: 0, signal: null }, facts, { exit_code: 0, status: 'ok' }],
    [{ code: 2, signal: null }, facts, { exit_code: 2, status: 'exit_nonzero', error: 'exit status 2' }],
    [
      { code: null, signal: 'SIGKILL' },
      { ...facts, timedOut: true },
      { exit_code: 124, status: 'timeout', error: 'timed out after 5s', timed_out: true },
    ],
    [
      { code: null, signal: 'SIGSEGV' },
      facts,
      { exit_code: 139, status: 'signal', signal: 'SIGSEGV', error: 'killed by signal 11 (SIGSEGV)' },
    ],
    [
      { code: null, signal: 'SIGKILL' },
      { ...facts, stats: { oomKills: 1 }, memoryMaxBytes: 64 << 20 },
      { exit_code: 137, status: 'oom', error: 'killed by the OOM killer (memory limit 64 MiB)' },
    ],
    [
      { code: 1, signal: null },
      { ...facts, stats: { pidsMaxHits: 3 } },
      { exit_code: 1, status: 'pids_limit' },
    ],
  ] as const)('%j → %j', (outcome, outcomeFacts, expected) => {
    expect(describeOutcome(outcome as never, outcomeFacts)).toMatchObject(expected);
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
