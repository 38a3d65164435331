import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TestAgent } from '../../helpers/agent.js';

// Integration: the workload's output pipes, made by the agent (pipe2) and read into one reused buffer.
let agent: TestAgent;
beforeAll(async () => {
  agent = await new TestAgent(['--quiet']).start();
});
afterAll(async () => {
  await agent?.stop();
});

const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

const FD_TYPES =
  'import os, stat\n' +
  'kind = lambda fd: "fifo" if stat.S_ISFIFO(os.fstat(fd).st_mode) else "socket" if stat.S_ISSOCK(os.fstat(fd).st_mode) else "other"\n' +
  'print(kind(1), kind(2))\n';

describe('output pipes', () => {
  test('stdout and stderr are real pipes, which a program can reopen through /dev/stdout', async () => {
    const { response, logs } = await agent.run({
      runtime: 'python',
      code: `${FD_TYPES}open("/dev/stdout", "w").write("reopened\\n")\nopen("/dev/stderr", "w").write("to stderr\\n")\n`,
    });
    expect(response.log_lines).toEqual(['to stderr']);
    expect(response.status).toBe('ok');
    expect(logs.map((l) => [l.stream, l.line])).toEqual([
      ['stdout', 'fifo fifo'],
      ['stdout', 'reopened'],
      ['stderr', 'to stderr'],
    ]);
  });

  test('the agent holds no pipe ends after runs that exit, fail, time out or leave a child holding stdout', async () => {
    await agent.run({ runtime: 'python', code: 'print(1)' });
    const before = openFds(agent.pid);
    await agent.run({ runtime: 'python', code: 'print(1)' });
    await agent.run({ runtime: 'python', code: 'import sys\nsys.exit(3)' });
    await agent.run({ runtime: 'python', code: 'import time\nprint("x", flush=True)\ntime.sleep(60)', timeout_s: 1 });
    await agent.run({
      runtime: 'python',
      code: 'import subprocess\nsubprocess.Popen(["sleep", "60"])\nprint("parent done")',
    });
    await agent.run({ runtime: 'python', code: 'import os\nos.close(1)\nos.close(2)' });
    expect(openFds(agent.pid)).toBe(before);
  }, 30_000);
});

describe('without the syscalls addon', () => {
  test("output streams through Node's own pipes, and the agent says so", async () => {
    const fallback = await new TestAgent(['--quiet'], {
      env: { VULCAN_SYSCALLS_ADDON: '/nonexistent/syscalls.node' },
    }).start();
    try {
      const { response, logs } = await fallback.run({
        runtime: 'python',
        code: `${FD_TYPES}import sys\nfor i in range(3000):\n    print(i)\nprint("err", file=sys.stderr)\n`,
      });
      expect(response.status).toBe('ok');
      expect(logs[0]?.line).toBe('socket socket');
      expect(logs.filter((l) => l.stream === 'stdout')).toHaveLength(3001);
      expect(logs.at(-1)).toMatchObject({ line: 'err', stream: 'stderr' });
      expect(fallback.log).toContain("reading workload output through Node's pipes");
    } finally {
      await fallback.stop();
    }
  });
});
