// make bench-vm: the agent's share of a microVM's boot, and what the pre-warmed Go cache
// saves, measured in the smoke test's VMs (QEMU TCG here: ~50x slower than native).
//   - boot-to-ready: VMM start → first CONNECT/OK; from the guest console, the kernel's part
//     (guest uptime when it runs init) and the agent's part (its own uptime at its "ready" line)
//   - the same image booting a shell one-liner that only listens on vsock 1024 (socat) as init:
//     the difference to it is the agent's own share of boot-to-ready
//   - go.ext4: hello world with the image's pre-warmed cache vs with an empty cache
// Writes build/bench/vm.json.   Usage: node --import tsx test/bench/vm.ts [--runs N]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Runtime, runOnGuest } from '@vulcan/shared';
import { artefacts, bootReady, defaultQemuLauncher, type InitMode, type MicroVm } from '../smoke/vm.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'skip-go': { type: 'boolean', default: false },
    // The empty-cache build is very long under TCG (it timed out after 3000 s here): a timeout is reported as a bound.
    'cold-timeout-s': { type: 'string', default: '3000' },
  },
});
const runs = Number(values.runs);
const { config, rootfsDir } = artefacts(root);
const launcher = defaultQemuLauncher(root, config, rootfsDir);
let cid = 100 + (process.pid % 100) * 4;

/** Seconds of guest uptime printed on the console line matching `pattern`. */
function consoleTime(text: string, pattern: RegExp): number | undefined {
  const line = text.split('\n').find((l) => pattern.test(l));
  const seconds = line === undefined ? undefined : /^\[\s*([\d.]+)\]/.exec(line)?.[1];
  return seconds === undefined ? undefined : Number(seconds);
}

/** Boots a VM, waits for its first CONNECT/OK, runs `body`, and stops the VM. */
async function withVm<T>(
  runtime: Runtime,
  init: InitMode,
  body: (vm: MicroVm, readyMs: number) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-vm-'));
  let vm: MicroVm | undefined;
  try {
    const booted = await bootReady(launcher, { runtime, init, dir, cid: cid++ }, 120_000);
    vm = booted.vm;
    return await body(vm, booted.readyMs);
  } catch (error) {
    vm ??= (error as { vm?: MicroVm }).vm;
    throw error;
  } finally {
    await vm?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const INITS = ['image', 'agent', 'socat'] as const;
const boots: { init: InitMode; readyMs: number; kernelS?: number; agentS?: number }[] = [];
for (let i = 0; i < runs; i++) {
  for (const init of INITS) {
    boots.push(
      await withVm('python', init, async (vm, readyMs) => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const text = vm.console();
        const kernelS = consoleTime(text, /Run \/\S+ as init process/);
        // The agent stamps its lines with its own uptime: its ready line says how long it took to get there.
        const agentS = consoleTime(text, /vulcan-guest ready:/);
        return { init, readyMs, kernelS, agentS };
      }),
    );
  }
}

const readyOf = (init: InitMode): number[] => boots.filter((b) => b.init === init).map((b) => b.readyMs);
const baselineMs = median(readyOf('socat'));
const INIT_NAMES: Record<InitMode, string> = {
  image: 'our /sbin/init + agent',
  agent: 'init=vulcan-guest',
  socat: 'baseline: sh -c "exec socat VSOCK-LISTEN:1024…" as init',
};
const rows = INITS.map((init) => {
  const mine = boots.filter((b) => b.init === init);
  const readyMs = median(readyOf(init));
  return {
    figure: `python.ext4 boot → ready (${INIT_NAMES[init]})`,
    'VMM start → CONNECT/OK': `${readyMs} ms [${Math.min(...readyOf(init))}–${Math.max(...readyOf(init))}]`,
    'vs baseline': init === 'socat' ? '' : `+${readyMs - baselineMs} ms (${(readyMs / baselineMs).toFixed(2)}×)`,
    'kernel → init (console)': `${median(mine.map((b) => b.kernelS ?? Number.NaN)).toFixed(2)} s`,
    'agent start → ready (console)':
      init === 'socat' ? '' : `${median(mine.map((b) => b.agentS ?? Number.NaN)).toFixed(2)} s`,
  };
});
console.log(`in-VM figures (${launcher.name}, ${config.defaultMemMb} MiB, ${runs} boots each, median)`);
console.table(rows);
const hello = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n';
const goRuns = values['skip-go']
  ? undefined
  : await withVm('go', 'image', async (vm) => {
      /** ms of one hello-world request; `undefined` when it hit `timeoutS` (then the time is at least that). */
      const time = async (timeoutS: number, env?: Record<string, string>): Promise<number | undefined> => {
        const started = Date.now();
        const response = await runOnGuest(
          { runtime: 'go', code: hello, timeout_s: timeoutS, ...(env ? { env } : {}) },
          { path: vm.udsPath, deadline: Date.now() + (timeoutS + 100) * 1000 },
        );
        if (response.status === 'timeout') return undefined;
        if (response.output !== 'hello\n') throw new Error(`go run failed: ${JSON.stringify(response)}`);
        return Date.now() - started;
      };
      const warm = await time(600);
      if (warm === undefined) throw new Error('go hello world with the pre-warmed cache timed out after 600 s');
      // An empty cache in the workload's own TMPDIR: the standard library is compiled from scratch.
      const coldTimeoutS = Number(values['cold-timeout-s']);
      const cold = await time(coldTimeoutS, { GOCACHE: '/tmp/vulcan-bench-cold-cache' });
      return { warm, cold: cold ?? null, coldTimeoutS };
    });

if (goRuns) {
  const cold =
    goRuns.cold === null
      ? `more than ${goRuns.coldTimeoutS} s with an empty one (timed out; > ${Math.round((goRuns.coldTimeoutS * 1000) / goRuns.warm)}x)`
      : `${goRuns.cold} ms with an empty one (${(goRuns.cold / goRuns.warm).toFixed(1)}x)`;
  console.log(`go.ext4 hello world: ${goRuns.warm} ms with the pre-warmed cache, ${cold}`);
}
mkdirSync(path.join(root, 'build/bench'), { recursive: true });
writeFileSync(
  path.join(root, 'build/bench/vm.json'),
  `${JSON.stringify({ date: new Date().toISOString(), boots, goRuns, rows }, null, 2)}\n`,
);
