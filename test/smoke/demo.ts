// make demo: boots python.ext4 in a microVM, waits for the agent, sends a program
// over vsock the way the Go host does, and shows its lines as they stream back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_VSOCK_PORT, runOnGuest } from '@vulcan/shared';
import { artefacts, bootReady, defaultQemuLauncher } from './vm.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { config, rootfsDir } = artefacts(root);
const launcher = defaultQemuLauncher(root, config, rootfsDir);

const program = `import os, platform, time
print(f"hello from a microVM: {platform.node()}, kernel {platform.release()}, Python {platform.python_version()}")
print(f"running as uid {os.getuid()} in {os.getcwd()}")
for i in range(1, 4):
    print(f"line {i}, streamed as it is printed")
    time.sleep(0.5)
print("done")
`;

const dir = mkdtempSync(path.join(tmpdir(), 'vulcan-demo-'));
console.log(`booting python.ext4 with ${launcher.name} (${config.defaultMemMb} MiB, ${config.defaultVcpus} vCPU)…`);
const { vm, readyMs } = await bootReady(launcher, { runtime: 'python', init: 'image', dir, cid: 3 }, 90_000);
try {
  console.log(
    `agent ready ${readyMs} ms after the VMM started; sending the program over vsock (CONNECT ${DEFAULT_VSOCK_PORT})\n`,
  );
  const started = Date.now();
  const response = await runOnGuest(
    { runtime: 'python', code: program, timeout_s: 60 },
    {
      path: vm.udsPath,
      onLog: (log) => console.log(`  +${String(Date.now() - started).padStart(5)} ms  [${log.stream}] ${log.line}`),
    },
  );
  console.log(`\nresult: ${JSON.stringify(response)}`);
  process.exitCode = response.exit_code;
} catch (error) {
  console.error(`demo failed: ${(error as Error).message}\n--- console ---\n${vm.console()}`);
  process.exitCode = 1;
} finally {
  await vm.kill();
  rmSync(dir, { recursive: true, force: true });
}
