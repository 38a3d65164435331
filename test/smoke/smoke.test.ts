import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  DEFAULT_VSOCK_PORT,
  dialGuest,
  encodeFrame,
  encodeRequest,
  type GuestRequest,
  type GuestResponse,
  type LogMessage,
  pingGuest,
  type Runtime,
  runOnGuest,
  SUPPORTED_RUNTIMES,
} from '@vulcan/shared';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ROOT } from '../helpers/paths.js';
import { PROGRAMS } from './programs.js';
import {
  artefacts,
  bootReady,
  defaultQemuLauncher,
  FirecrackerLauncher,
  type InitMode,
  type Launcher,
  type MicroVm,
} from './vm.js';

// In-VM smoke test: every image boots in a real microVM and its agent is driven over real
// vsock through the VMM's hybrid-vsock socket, exactly as the Go host does. Timeouts are
// sized for QEMU's TCG (~50x slower than native) without letting a hang go unnoticed long.
const runtimes = (process.env.RUNTIME ?? SUPPORTED_RUNTIMES.join(',')).split(',').filter(Boolean) as Runtime[];
const { config, rootfsDir } = artefacts(ROOT);
const launcher: Launcher = FirecrackerLauncher.available()
  ? new FirecrackerLauncher(config, rootfsDir)
  : defaultQemuLauncher(ROOT, config, rootfsDir);

const BOOT_TIMEOUT_MS = 90_000;
const RUN_TIMEOUT_S = 120; // go builds under TCG
const logsDir = path.join(ROOT, 'build/smoke');

interface Row {
  runtime: Runtime;
  check: string;
  result: 'pass' | 'FAIL';
  ms: number;
}
const rows: Row[] = [];
let nextCid = 3 + (process.pid % 1000) * 8;

/** Runs a named check, timing it and recording it in the summary table. */
async function check<T>(runtime: Runtime, name: string, body: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    const value = await body();
    rows.push({ runtime, check: name, result: 'pass', ms: Date.now() - started });
    return value;
  } catch (error) {
    rows.push({ runtime, check: name, result: 'FAIL', ms: Date.now() - started });
    throw error;
  }
}

async function run(
  vm: MicroVm,
  runtime: Runtime,
  request: Partial<GuestRequest>,
  onLog?: (log: LogMessage) => void,
): Promise<{ response: GuestResponse; logs: LogMessage[] }> {
  const logs: LogMessage[] = [];
  const response = await runOnGuest(
    { runtime, code: '', timeout_s: RUN_TIMEOUT_S, ...request },
    {
      path: vm.udsPath,
      port: DEFAULT_VSOCK_PORT,
      attempts: 3,
      deadline: Date.now() + (RUN_TIMEOUT_S + 60) * 1000,
      onLog: (log) => {
        logs.push(log);
        onLog?.(log);
      },
    },
  );
  return { response, logs };
}

function bootedMs(booted: number | Error | undefined): number {
  if (booted === undefined) throw new Error('the VM was not booted');
  if (booted instanceof Error) throw booted;
  return booted;
}

/** Boots a VM for a describe block; keeps its console under build/smoke/ when a test of the block failed. */
function useVm(runtime: Runtime, init: InitMode) {
  const state: {
    vm?: MicroVm;
    /** Boot-to-ready as measured while booting, or why it failed; checked by the first test. */
    booted?: number | Error;
    readyMs?: number;
    failed: boolean;
    dir: string;
  } = {
    failed: false,
    dir: mkdtempSync(path.join(tmpdir(), `smoke-${runtime}-`)),
  };
  beforeAll(
    async () => {
      try {
        const booted = await bootReady(launcher, { runtime, init, dir: state.dir, cid: nextCid++ }, BOOT_TIMEOUT_MS);
        state.vm = booted.vm;
        state.booted = booted.readyMs;
      } catch (error) {
        state.vm = (error as { vm?: MicroVm }).vm;
        state.booted = error as Error;
      }
    },
    2 * BOOT_TIMEOUT_MS + 30_000,
  );
  afterAll(async () => {
    const failed = rows.some((r) => r.runtime === runtime && r.result === 'FAIL') || state.readyMs === undefined;
    if (state.vm && failed) {
      mkdirSync(logsDir, { recursive: true });
      writeFileSync(path.join(logsDir, `${runtime}-${init}-init.console.log`), state.vm.console());
    }
    await state.vm?.kill();
    rmSync(state.dir, { recursive: true, force: true });
  }, 30_000);
  return state;
}

describe.each(runtimes)('%s.ext4', (runtime) => {
  const p = PROGRAMS[runtime];

  describe(`booted with the image's init (${launcher.name})`, () => {
    const state = useVm(runtime, 'image');
    const vm = (): MicroVm => state.vm as MicroVm;

    test(
      'boot to ready (VMM start → first CONNECT/OK)',
      async () => {
        state.readyMs = await check(runtime, 'boot→ready (image init)', async () => bootedMs(state.booted));
        console.log(`${runtime}: boot to ready with the image init: ${state.readyMs} ms`);
      },
      BOOT_TIMEOUT_MS + 5000,
    );

    test(
      'hello world, stdin, env, exit code, stderr',
      async () => {
        await check(runtime, 'hello world', async () => {
          const { response, logs } = await run(vm(), runtime, p.hello);
          expect(response).toMatchObject({ exit_code: 0, output: `hello from ${runtime}\n`, status: 'ok' });
          expect(logs.map((l) => l.line)).toEqual([`hello from ${runtime}`]);
        });
        await check(runtime, 'stdin', async () => {
          const { response } = await run(vm(), runtime, { ...p.stdin, input: Buffer.from('from the host\n') });
          expect(response.output).toBe('FROM THE HOST\n');
        });
        await check(runtime, 'env', async () => {
          const { response } = await run(vm(), runtime, { ...p.env, env: { GREETING: 'hi vsock' } });
          expect(response.output).toBe('hi vsock\n');
        });
        await check(runtime, 'non-zero exit', async () => {
          const { response } = await run(vm(), runtime, p.exit3);
          expect(response).toMatchObject({ exit_code: 3, error: 'exit status 3', status: 'exit_nonzero' });
        });
        await check(runtime, 'stderr lines', async () => {
          const { response, logs } = await run(vm(), runtime, p.stderr);
          expect(response.log_lines).toEqual(['e1', 'e2']);
          expect(logs).toEqual([
            { type: 'log', line: 'e1', stream: 'stderr', seq: 1 },
            { type: 'log', line: 'e2', stream: 'stderr', seq: 2 },
          ]);
        });
      },
      6 * RUN_TIMEOUT_S * 1000,
    );

    test(
      'runs as the unprivileged user in /work; a two-file archive',
      async () => {
        await check(runtime, 'uid 1000 in /work', async () => {
          const { response } = await run(vm(), runtime, p.identity);
          expect(response.output).toBe('1000 /work\n');
        });
        // Only the agent's own pipes (syscalls addon loaded in the guest) can be reopened; Node's socketpairs cannot.
        await check(runtime, 'stdout is a pipe it can reopen', async () => {
          const { response } = await run(vm(), runtime, p.devStdout);
          expect(response).toMatchObject({ status: 'ok', output: 'via /dev/stdout\n' });
        });
        await check(runtime, runtime === 'go' ? 'module with a package' : 'two-file archive', async () => {
          const { response } = await run(vm(), runtime, p.archive);
          expect(response).toMatchObject({ exit_code: 0, output: 'hello archive\n' });
        });
      },
      4 * RUN_TIMEOUT_S * 1000,
    );

    test(
      'a timeout kills the grandchild too',
      async () => {
        const timeoutS = runtime === 'go' ? 30 : 10; // go builds first (~8 s under TCG), inside the timeout
        await check(runtime, `timeout ${timeoutS}s with a grandchild`, async () => {
          const started = Date.now();
          const { response, logs } = await run(vm(), runtime, { ...p.grandchild, timeout_s: timeoutS });
          const elapsed = Date.now() - started;
          expect(response).toMatchObject({ status: 'timeout', timed_out: true, exit_code: 124 });
          expect(logs.map((l) => l.line)).toContain('started');
          expect(elapsed).toBeLessThan((timeoutS + 15) * 1000);
        });
        await check(runtime, 'no survivor afterwards', async () => {
          const { response } = await run(vm(), runtime, p.survivors);
          expect(response.output).toBe('0\n');
        });
      },
      3 * RUN_TIMEOUT_S * 1000,
    );

    test(
      '20 MB of output: every frame ≤ 16 MiB, and the agent answers afterwards',
      async () => {
        await check(runtime, '20 MB of output', async () => {
          let lines = 0;
          // runOnGuest's frame decoder refuses any frame over 16 MiB, so reaching the result proves the bound.
          const { response } = await run(vm(), runtime, p.bigOutput, () => {
            lines++;
          });
          expect(lines).toBe(200_000);
          expect(response).toMatchObject({ exit_code: 0, truncated: true });
          expect(Buffer.byteLength(response.output)).toBeLessThan(2 * 1024 * 1024);
        });
        await check(runtime, 'answers after 20 MB', async () => {
          const { response } = await run(vm(), runtime, p.hello);
          expect(response.status).toBe('ok');
        });
      },
      3 * RUN_TIMEOUT_S * 1000,
    );

    test('ping: the agent’s facts and the runtimes this image really has', async () => {
      await check(runtime, 'ping', async () => {
        const response = await pingGuest({ path: vm().udsPath, port: DEFAULT_VSOCK_PORT });
        expect(response).toMatchObject({
          status: 'ok',
          runtimes: [runtime],
          node_version: expect.stringMatching(/^v24\./),
        });
      });
    }, 60_000);

    test.runIf(runtime === 'python')(
      'limits: a fork bomb is pids_limit, a memory hog is oom, and the agent carries on',
      async () => {
        await check(runtime, 'fork bomb → pids_limit', async () => {
          const { response } = await run(vm(), runtime, {
            code: 'import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n',
            max_pids: 64,
            timeout_s: 10,
          });
          expect(response).toMatchObject({
            status: 'pids_limit',
            error_code: 'E_PIDS_LIMIT',
            limits: { max_pids: 64 },
          });
        });
        await check(runtime, 'memory hog → oom', async () => {
          const { response } = await run(vm(), runtime, {
            code: 'chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))\n',
            memory_mb: 32,
            timeout_s: 30,
          });
          expect(response).toMatchObject({
            status: 'oom',
            error_code: 'E_OOM',
            oom_killed: true,
            limits: { memory_mb: 32 },
          });
          expect(response.memory_peak_bytes).toBeGreaterThan(16 * 1024 * 1024);
        });
        await check(runtime, 'usage reported, agent healthy after', async () => {
          const { response } = await run(vm(), runtime, p.hello);
          expect(response).toMatchObject({ status: 'ok', oom_killed: false });
          expect(response.cpu_ms).toBeGreaterThanOrEqual(0);
          expect(response.memory_peak_bytes).toBeGreaterThan(0);
        });
      },
      3 * RUN_TIMEOUT_S * 1000,
    );

    test(
      'a host that stops reading does not freeze the agent',
      async () => {
        const timeoutS = runtime === 'go' ? 30 : 10;
        await check(runtime, 'stuck host, second connection served', async () => {
          const stuck = await dialGuest({ path: vm().udsPath, port: DEFAULT_VSOCK_PORT });
          stuck.socket.pause(); // read nothing, ever
          stuck.socket.write(encodeFrame(encodeRequest({ runtime, code: '', timeout_s: timeoutS, ...p.chatty })));
          // The agent runs one workload at a time: the second is served once the stuck one timed out.
          await new Promise((resolve) => setTimeout(resolve, (timeoutS + 2) * 1000));
          try {
            const { response } = await run(vm(), runtime, p.hello);
            expect(response.output).toBe(`hello from ${runtime}\n`);
          } finally {
            stuck.socket.destroy();
          }
        });
      },
      4 * RUN_TIMEOUT_S * 1000,
    );
  });

  describe('booted with init=/usr/local/bin/vulcan-guest (the Go host’s command line)', () => {
    const state = useVm(runtime, 'agent');
    const vm = (): MicroVm => state.vm as MicroVm;

    test(
      'boot to ready, and it serves',
      async () => {
        state.readyMs = await check(runtime, 'boot→ready (agent as init)', async () => bootedMs(state.booted));
        console.log(`${runtime}: boot to ready with init=vulcan-guest: ${state.readyMs} ms`);
        await check(runtime, 'hello world (agent as init)', async () => {
          const { response } = await run(vm(), runtime, p.hello);
          expect(response.output).toBe(`hello from ${runtime}\n`);
        });
        // As PID 1 the agent makes /dev/stdout itself (no udev), and its own pipes make it reopenable.
        await check(runtime, '/dev/stdout reopens (agent as init)', async () => {
          const { response } = await run(vm(), runtime, p.devStdout);
          expect(response).toMatchObject({ status: 'ok', output: 'via /dev/stdout\n' });
        });
      },
      BOOT_TIMEOUT_MS + 2 * RUN_TIMEOUT_S * 1000,
    );

    test('Ctrl-Alt-Del: the agent stops and the VM powers off cleanly', async () => {
      await check(runtime, 'clean shutdown (Ctrl-Alt-Del)', async () => {
        await vm().ctrlAltDel();
        expect(await vm().waitExit(60_000)).toBe(true);
        expect(vm().console()).toContain('shutdown: received SIGINT; stopping workloads');
        expect(vm().console()).toContain('shutdown: powering off');
      });
    }, 90_000);
  });
});

afterAll(() => {
  console.log(`\nsmoke test summary (${launcher.name})`);
  console.table(rows.map((r) => ({ runtime: r.runtime, check: r.check, result: r.result, 'time (ms)': r.ms })));
});
