import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import {
  type Config,
  DEFAULT_VSOCK_PORT,
  dialGuest,
  GUEST_AGENT_PATH,
  loadConfig,
  type Runtime,
  rootfsPath,
} from '@vulcan/shared';

/**
 * Booting a runtime image in a microVM and reaching its agent the way the Go host
 * does: through the VMM's hybrid-vsock Unix socket with `CONNECT 1024\n`. Two
 * launchers share one interface: QEMU (TCG) with vhost-device-vsock, which these
 * machines can run, and Firecracker, used when VULCAN_FC_BIN is set and /dev/kvm
 * is usable.
 */

/**
 * Which init the kernel starts: the image's /sbin/init, the agent itself (the Go host's
 * command line), or — for `make bench-vm`'s baseline — a shell one-liner that only listens
 * on vsock 1024 with socat (python.ext4 carries socat for this).
 */
export type InitMode = 'image' | 'agent' | 'socat';

/**
 * The bare vsock listener booted as init for the boot-time baseline: accepts, echoes, nothing else.
 * No `--`: QEMU's microvm and Firecracker append their virtio_mmio.device parameters after ours, and
 * those must stay kernel parameters; words the kernel does not know (no `=`) go to init's argv anyway.
 */
export const SOCAT_INIT = `init=/bin/sh -c "exec socat VSOCK-LISTEN:${DEFAULT_VSOCK_PORT},fork EXEC:/bin/cat"`;

export interface BootOptions {
  readonly runtime: Runtime;
  readonly init: InitMode;
  /** A directory of this VM's own: sockets, console log, disk copy. */
  readonly dir: string;
  /** Guest CID (≥ 3), unique per running VM. */
  readonly cid: number;
}

export interface MicroVm {
  /** Host side of the guest's vsock: connect, then `CONNECT <port>\n`. */
  readonly udsPath: string;
  /** When the VMM process was started (Date.now()). */
  readonly startedAt: number;
  /** Everything the guest wrote on its serial console so far (and the VMM's own messages). */
  console(): string;
  /** The VMM's exit status once it has exited, else null. */
  exitCode(): number | null;
  /** Sends Ctrl-Alt-Del, as Firecracker's SendCtrlAltDel does. */
  ctrlAltDel(): Promise<void>;
  /** Resolves true once the VMM has exited, false after `timeoutMs`. */
  waitExit(timeoutMs: number): Promise<boolean>;
  /** Stops the VM (and its helpers) at once. */
  kill(): Promise<void>;
}

export interface Launcher {
  readonly name: string;
  boot(options: BootOptions): Promise<MicroVm>;
}

/** The kernel command line of the Vulcan host, plus what this VMM needs. */
export function kernelCommandLine(init: InitMode, extra: string[] = []): string {
  const base = ['console=ttyS0', 'reboot=k', 'panic=1', 'pci=off', ...extra];
  if (init === 'agent') base.push(`init=${GUEST_AGENT_PATH}`);
  if (init === 'socat') base.push(SOCAT_INIT);
  return base.join(' ');
}

/** The build's outputs, unless the host configuration (VULCAN_FC_*) says otherwise. */
export function artefacts(root: string, env: NodeJS.ProcessEnv = process.env): { config: Config; rootfsDir: string } {
  const config = loadConfig(env);
  const rootfsDir = env.VULCAN_FC_ROOTFS_DIR ? config.rootfsDir : path.join(root, 'build/images');
  return { config, rootfsDir };
}

function exitPromise(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

async function waitForPath(file: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (child.exitCode !== null)
      throw new Error(`${child.spawnfile} exited (${child.exitCode}) before creating ${file}`);
    if (Date.now() > deadline) throw new Error(`${file} did not appear within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function collect(child: ChildProcess, sink: (text: string) => void): void {
  child.stdout?.on('data', (d: Buffer) => sink(d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => sink(d.toString('utf8')));
}

/** Host CPU frequency for tsc_early_khz: without it microvm guests often hang calibrating against the PIT. */
function hostKhz(): number {
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  return Math.round(Number(mhz ?? 2000) * 1000);
}

/** The QEMU launcher as the smoke test and the demo use it: tools from the environment or PATH, the build's kernel. */
export function defaultQemuLauncher(root: string, config: Config, rootfsDir: string, env = process.env): QemuLauncher {
  return new QemuLauncher({
    qemu: env.QEMU ?? 'qemu-system-x86_64',
    vhostDeviceVsock: env.VHOST_DEVICE_VSOCK ?? 'vhost-device-vsock',
    kernel: env.VULCAN_QEMU_KERNEL ?? path.join(root, 'build/kernel/bzImage'),
    rootfsDir,
    memMb: config.defaultMemMb,
    vcpus: config.defaultVcpus,
  });
}

/** Resolves true once `exited` settles, false after `timeoutMs`. */
function within(exited: Promise<void>, timeoutMs: number): Promise<boolean> {
  return Promise.race([
    exited.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs)),
  ]);
}

export interface QemuPaths {
  readonly qemu: string;
  readonly vhostDeviceVsock: string;
  /** A kernel QEMU can boot directly (bzImage). */
  readonly kernel: string;
  readonly rootfsDir: string;
  readonly memMb: number;
  readonly vcpus: number;
}

/**
 * QEMU under TCG, vsock through a vhost-user device served by vhost-device-vsock.
 * The `microvm` machine: virtio-mmio devices, no PCI, like Firecracker — plus an
 * i8042, as Firecracker has, to carry Ctrl-Alt-Del.
 */
export class QemuLauncher implements Launcher {
  readonly name = 'qemu-tcg+vhost-device-vsock';

  constructor(private readonly paths: QemuPaths) {}

  async boot(options: BootOptions): Promise<MicroVm> {
    const vhostSocket = path.join(options.dir, 'vhost-user.sock');
    const udsPath = path.join(options.dir, 'vsock.sock');
    const monitor = path.join(options.dir, 'monitor.sock');
    let text = '';
    const helper = spawn(
      this.paths.vhostDeviceVsock,
      ['--guest-cid', String(options.cid), '--socket', vhostSocket, '--uds-path', udsPath],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    collect(helper, (t) => {
      text += `[vhost-device-vsock] ${t}`;
    });
    await waitForPath(vhostSocket, helper, 10_000);

    const mem = `${this.paths.memMb}M`;
    const image = rootfsPath(this.paths.rootfsDir, options.runtime);
    const args = [
      ...['-accel', 'tcg', '-cpu', 'max', '-smp', String(this.paths.vcpus), '-m', mem],
      ...['-M', 'microvm,acpi=off,memory-backend=mem', '-device', 'i8042'],
      // vhost-user needs guest memory the daemon can map: a shared memfd.
      ...['-object', `memory-backend-memfd,id=mem,size=${mem},share=on`],
      ...['-nodefaults', '-nographic', '-no-reboot', '-serial', 'stdio'],
      ...['-monitor', `unix:${monitor},server=on,wait=off`],
      ...['-kernel', this.paths.kernel],
      ...['-append', kernelCommandLine(options.init, ['root=/dev/vda', 'rw', `tsc_early_khz=${hostKhz()}`])],
      // snapshot=on: every boot starts from the pristine image; writes go to a temporary overlay.
      ...['-drive', `id=root,file=${image},format=raw,if=none,snapshot=on`],
      ...['-device', 'virtio-blk-device,drive=root'],
      ...['-chardev', `socket,id=vsock,path=${vhostSocket}`, '-device', 'vhost-user-vsock-device,chardev=vsock'],
    ];
    const startedAt = Date.now();
    const vmm = spawn(this.paths.qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    collect(vmm, (t) => {
      text += t;
    });
    const vmmExit = exitPromise(vmm);
    const stopAll = async (): Promise<void> => {
      vmm.kill('SIGKILL');
      helper.kill('SIGKILL');
      await Promise.all([vmmExit, exitPromise(helper)]);
    };
    return {
      udsPath,
      startedAt,
      console: () => text,
      exitCode: () => vmm.exitCode ?? (vmm.signalCode ? -1 : null),
      ctrlAltDel: () => qemuMonitor(monitor, 'sendkey ctrl-alt-delete'),
      waitExit: async (timeoutMs) => {
        const exited = await within(vmmExit, timeoutMs);
        if (exited) {
          helper.kill('SIGTERM');
          await exitPromise(helper);
        }
        return exited;
      },
      kill: stopAll,
    };
  }
}

function qemuMonitor(socketPath: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath, () => socket.end(`${command}\n`));
    socket.on('error', reject);
    socket.on('close', () => resolve());
    socket.resume();
  });
}

/** Firecracker itself (needs /dev/kvm): same interface, configured from the host's Config. */
export class FirecrackerLauncher implements Launcher {
  readonly name = 'firecracker';

  constructor(
    private readonly config: Config,
    private readonly rootfsDir: string,
  ) {}

  /** True where Firecracker can run: its binary is configured and /dev/kvm is usable. */
  static available(env: NodeJS.ProcessEnv = process.env): boolean {
    if (!env.VULCAN_FC_BIN) return false;
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
      return true;
    } catch {
      return false;
    }
  }

  async boot(options: BootOptions): Promise<MicroVm> {
    const udsPath = path.join(options.dir, 'vsock.sock');
    const apiSocket = path.join(options.dir, 'firecracker.sock');
    // Firecracker writes to its root drive: give each VM its own copy of the image.
    const disk = path.join(options.dir, `${options.runtime}.ext4`);
    copyFileSync(rootfsPath(this.rootfsDir, options.runtime), disk);
    const configFile = path.join(options.dir, 'vm.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        'boot-source': { kernel_image_path: this.config.kernelPath, boot_args: kernelCommandLine(options.init) },
        drives: [{ drive_id: 'rootfs', path_on_host: disk, is_root_device: true, is_read_only: false }],
        'machine-config': { vcpu_count: this.config.defaultVcpus, mem_size_mib: this.config.defaultMemMb },
        vsock: { guest_cid: options.cid, uds_path: udsPath },
      }),
    );
    let text = '';
    const startedAt = Date.now();
    const vmm = spawn(this.config.firecrackerBin, ['--api-sock', apiSocket, '--config-file', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    collect(vmm, (t) => {
      text += t;
    });
    const vmmExit = exitPromise(vmm);
    return {
      udsPath,
      startedAt,
      console: () => text,
      exitCode: () => vmm.exitCode ?? (vmm.signalCode ? -1 : null),
      ctrlAltDel: () => firecrackerAction(apiSocket, 'SendCtrlAltDel'),
      waitExit: (timeoutMs) => within(vmmExit, timeoutMs),
      kill: async () => {
        vmm.kill('SIGKILL');
        await vmmExit;
      },
    };
  }
}

function firecrackerAction(socketPath: string, action: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ action_type: action });
    const request = http.request(
      {
        socketPath,
        method: 'PUT',
        path: '/actions',
        headers: { 'Content-Type': 'application/json', 'Content-Length': body.length },
      },
      (response) => {
        response.resume();
        response.on('end', () =>
          response.statusCode === 204 ? resolve() : reject(new Error(`${action}: HTTP ${response.statusCode}`)),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * The agent says on the console that it listens, yet the VMM's vsock socket has not answered a
 * CONNECT for a long while: the fault is in the VMM's device path (seen with QEMU TCG +
 * vhost-device-vsock 0.3.0 in about 2 of 60 boots), not in the guest.
 */
export class VsockSilentError extends Error {}

/** How long after the agent's ready line a silent vsock counts as broken (a CONNECT/OK takes ms). */
const SILENT_AFTER_READY_MS = 20_000;

/**
 * Boot-to-ready: dials the guest like the host (CONNECT/OK), retrying until the
 * agent answers; returns ms from VMM start to the first successful handshake.
 */
export async function waitReady(vm: MicroVm, timeoutMs: number): Promise<number> {
  const deadline = vm.startedAt + timeoutMs;
  let listeningSince: number | undefined;
  for (;;) {
    try {
      const connection = await dialGuest({
        path: vm.udsPath,
        port: DEFAULT_VSOCK_PORT,
        attempts: 1,
        deadline: Math.max(deadline, Date.now() + 1000),
        // A CONNECT sent while the guest's vsock driver starts can be lost: retry it rather than wait.
        handshakeTimeoutMs: 500,
      });
      const readyMs = Date.now() - vm.startedAt;
      connection.socket.destroy();
      return readyMs;
    } catch (error) {
      if (listeningSince === undefined && vm.console().includes('vulcan-guest ready:')) listeningSince = Date.now();
      if (listeningSince !== undefined && Date.now() - listeningSince > SILENT_AFTER_READY_MS) {
        throw new VsockSilentError(
          `the agent reports listening, but the VMM's vsock answered no CONNECT for ${SILENT_AFTER_READY_MS / 1000} s`,
          { cause: error },
        );
      }
      if (Date.now() > deadline || vm.exitCode() !== null) {
        const state = vm.exitCode() === null ? 'still running' : `exited with ${vm.exitCode()}`;
        const tail = vm.console().split('\n').slice(-15).join('\n');
        throw new Error(
          `agent not reachable within ${timeoutMs} ms (VMM ${state}): ${(error as Error).message}\n${tail}`,
          {
            cause: error,
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * Boots and waits for the first CONNECT/OK. When the VMM's vsock stays silent although the agent
 * listens (VsockSilentError), the VM is booted once more, and the caller is told.
 */
export async function bootReady(
  launcher: Launcher,
  options: BootOptions,
  timeoutMs: number,
): Promise<{ vm: MicroVm; readyMs: number; reboots: number }> {
  for (let reboots = 0; ; reboots++) {
    // A fresh directory for a second boot: the first VM's sockets are still there.
    const dir = reboots === 0 ? options.dir : path.join(options.dir, `reboot-${reboots}`);
    if (reboots > 0) mkdirSync(dir);
    const vm = await launcher.boot({ ...options, dir });
    try {
      return { vm, readyMs: await waitReady(vm, timeoutMs), reboots };
    } catch (error) {
      if (!(error instanceof VsockSilentError) || reboots >= 1) throw Object.assign(error as Error, { vm });
      console.warn(`${options.runtime} (${options.init} init): ${error.message}; booting it again`);
      await vm.kill();
    }
  }
}
