import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { IS_ROOT, TestAgent } from '../helpers/agent.js';

// PID 1 mode, exercised for real: the agent is PID 1 of a new PID and mount namespace
// (unshare), where mounts stay private and reboot(2) ends the namespace, not the machine.
const canUnshare = IS_ROOT && spawnSync('unshare', ['--pid', '--fork', '--mount', 'true']).status === 0;

/** Zombie processes whose parent is `pid`. */
function zombiesOf(pid: number): number[] {
  const zombies: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' && Number(ppid) === pid) zombies.push(Number(name));
    } catch {
      // Gone.
    }
  }
  return zombies;
}

describe.skipIf(!canUnshare)('as PID 1', () => {
  let agent: TestAgent;
  let agentPid: number;
  beforeAll(async () => {
    agent = await new TestAgent([], {
      wrap: ['unshare', '--pid', '--fork', '--mount', '--propagation', 'private'],
      baseDir: '/var/tmp',
    }).start();
    agentPid = agent.children()[0] ?? -1;
  });
  afterAll(async () => {
    await agent?.stop();
  });

  test('says it runs as PID 1 and serves', async () => {
    expect(agent.log).toContain('init: running as PID 1');
    const { response } = await agent.run({ runtime: 'python', code: 'import os\nprint(os.getppid() > 0)' });
    expect(response.output).toBe('True\n');
  });

  test('reaps orphaned zombies', async () => {
    // Double fork: the grandchild is orphaned (re-parented to PID 1, the agent) and then exits.
    const { response } = await agent.run({
      runtime: 'python',
      code: [
        'import os, time',
        'for _ in range(5):',
        '    if os.fork() == 0:',
        '        if os.fork() == 0:',
        '            time.sleep(0.2)',
        '            os._exit(0)',
        '        os._exit(0)',
        '    os.wait()',
        'time.sleep(1)',
        'print("done")',
      ].join('\n'),
    });
    expect(response.output).toBe('done\n');
    await expect.poll(() => zombiesOf(agentPid), { timeout: 5000 }).toEqual([]);
  });

  test('SIGTERM stops workloads, logs the shutdown and ends the "machine"', async () => {
    const running = agent.run(
      { runtime: 'python', code: 'import time\nprint("up", flush=True)\ntime.sleep(100)', timeout_s: 60 },
      () => process.kill(agentPid, 'SIGTERM'),
    );
    await running.catch(() => undefined);
    await agent.exited();
    expect(agent.log).toContain('shutdown: received SIGTERM; stopping workloads');
    expect(agent.log).toContain('shutdown: powering off');
  });
});
