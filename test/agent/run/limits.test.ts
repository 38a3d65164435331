import { existsSync, readFileSync } from 'node:fs';
import { type LogMessage, pingGuest } from '@vulcan/shared';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TestAgent } from '../../helpers/agent.js';

// Integration: the extension keys of a request and of a result, against the built agent.
/** cgroup v2 mounted and the agent root: then every run has a cgroup and cpu.stat. */
const hasCgroup2 = process.getuid?.() === 0 && readFileSync('/proc/self/mounts', 'utf8').includes(' cgroup2 ');
let agent: TestAgent;
beforeAll(async () => {
  agent = await new TestAgent(['--quiet']).start();
});
afterAll(async () => {
  await agent?.stop();
});

describe('ordering', () => {
  test('every line carries a per-connection seq that restores the program’s order across both streams', async () => {
    const { logs } = await agent.run({
      runtime: 'python',
      code: 'import sys, time\nfor i in range(6):\n    print(f"line {i}", file=sys.stdout if i % 2 == 0 else sys.stderr, flush=True)\n    time.sleep(0.05)\n',
    });
    expect(logs.map((l) => [l.seq, l.stream, l.line])).toEqual([
      [1, 'stdout', 'line 0'],
      [2, 'stderr', 'line 1'],
      [3, 'stdout', 'line 2'],
      [4, 'stderr', 'line 3'],
      [5, 'stdout', 'line 4'],
      [6, 'stderr', 'line 5'],
    ]);
  });
});

describe('truncation that keeps the program running', () => {
  test('past stream_limit_bytes lines stop streaming, the program runs on, counts stay exact', async () => {
    const logs: LogMessage[] = [];
    const { response } = await agent.run(
      {
        runtime: 'python',
        code: 'for i in range(100):\n    print("x" * 1000)\nprint("end")\n',
        stream_limit_bytes: 10_000,
      },
      (l) => logs.push(l),
    );
    expect(logs).toHaveLength(9); // 9 lines of 1001 bytes fit in 10 000
    expect(response).toMatchObject({
      exit_code: 0,
      status: 'ok',
      stream_truncated: true,
      output_truncated: false,
      truncated: true,
      stdout_bytes: 100 * 1001 + 4,
      stderr_bytes: 0,
      limits: { stream_limit_bytes: 10_000 },
    });
    expect(response.output.endsWith('end\n')).toBe(true);
  });

  test('output_limit_bytes and log_limit_bytes keep head and tail within the caps', async () => {
    const { response } = await agent.run({
      runtime: 'python',
      code: 'import sys\nfor i in range(1000):\n    print(f"out {i:04}")\n    print(f"err {i:04}", file=sys.stderr)\n',
      output_limit_bytes: 200,
      log_limit_bytes: 100,
    });
    expect(response).toMatchObject({
      output_truncated: true,
      log_truncated: true,
      stdout_bytes: 9000,
      stderr_bytes: 9000,
    });
    expect(response.output.startsWith('out 0000\n')).toBe(true);
    expect(response.output.endsWith('out 0999\n')).toBe(true);
    expect(response.output).toContain('bytes omitted]');
    const lines = response.log_lines ?? [];
    expect(lines[0]).toBe('err 0000');
    expect(lines.at(-1)).toBe('err 0999');
    expect(lines.join('\n').length).toBeLessThan(100 + 60);
  });

  test('limits are clamped to the agent’s maxima, and the result says which applied', async () => {
    const { response } = await agent.run({
      runtime: 'python',
      code: 'print(1)',
      output_limit_bytes: 1e12,
      log_limit_bytes: 1e12,
      stream_limit_bytes: 1e12,
      max_file_bytes: 1e12,
    });
    expect(response.limits).toMatchObject({
      output_limit_bytes: 1024 * 1024,
      log_limit_bytes: 512 * 1024,
      stream_limit_bytes: 1024 * 1024 * 1024,
      max_file_bytes: 1024 * 1024 * 1024,
      timeout_s: 20,
    });
  });
});

describe('file size limit', () => {
  test('a program that ignores SIGXFSZ gets EFBIG, and the file stops at the limit', async () => {
    const { response } = await agent.run({
      runtime: 'python',
      code: 'import os\ntry:\n    open("big", "wb").write(b"x" * 10000)\nexcept OSError as e:\n    print("refused:", e.strerror)\nprint(os.path.getsize("big"))\n',
      max_file_bytes: 4096,
    });
    expect(response.output).toBe('refused: File too large\n4096\n');
  });

  test('a program killed by SIGXFSZ is reported with the limit', async () => {
    const { response } = await agent.run({
      runtime: 'python',
      code: 'import signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_DFL)\nopen("big", "wb").write(b"x" * 10000)\n',
      max_file_bytes: 1000,
    });
    expect(response).toMatchObject({
      status: 'signal',
      signal: 'SIGXFSZ',
      error: 'killed by signal 25 (SIGXFSZ): file size limit of 1024 bytes exceeded',
    });
  });
});

describe('cause of death', () => {
  test('a program that SIGSTOPs its own process group still times out and is killed', async () => {
    const { response } = await agent.run({
      runtime: 'python',
      code: 'import os, signal\nprint("stopping", flush=True)\nos.killpg(os.getpgrp(), signal.SIGSTOP)\n',
      timeout_s: 2,
    });
    expect(response).toMatchObject({ status: 'timeout', timed_out: true, exit_code: 124, signal: 'SIGKILL' });
    expect(response.output).toBe('stopping\n');
  });

  test.skipIf(!hasCgroup2)('CPU time of the whole tree comes from the cgroup', async () => {
    const { response } = await agent.run({
      runtime: 'python',
      code: 'import subprocess, time\nsubprocess.run(["python3", "-c", "import time\\nt=time.process_time()\\nwhile time.process_time()-t<0.4: pass"])\n',
    });
    expect(response.status).toBe('ok');
    expect(response.cpu_ms).toBeGreaterThanOrEqual(350);
  });
});

describe('ping', () => {
  test('answers with the version, the Node, the uptime and the runtimes found on this machine', async () => {
    const response = await pingGuest({ path: agent.socketPath, transport: 'unix' });
    expect(response).toMatchObject({ exit_code: 0, status: 'ok' });
    expect(response.agent_version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(response.node_version).toMatch(/^v\d+\./);
    expect(response.uptime_ms).toBeGreaterThan(0);
    const goInstalled = ['/usr/local/go/bin/go', '/usr/bin/go', '/usr/lib/go/bin/go'].some((f) => existsSync(f));
    const expected = ['go', 'node', 'python'].filter((r) => r !== 'go' || goInstalled);
    expect(response.runtimes).toEqual(expected);
  });

  test('an unknown request type is a bad request', async () => {
    const json = Buffer.from('{"type":"reboot"}');
    const frame = Buffer.concat([Buffer.from([0, 0, 0, json.length]), json]);
    const { messages } = await agent.raw(frame);
    expect(messages[0]).toMatchObject({
      type: 'result',
      response: { status: 'bad_request', error_code: 'E_BAD_REQUEST' },
    });
  });
});
