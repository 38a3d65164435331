import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { log } from './log.js';
import { loadNative } from './native.js';
import { WORKLOAD_PATH } from './run/environment.js';

/**
 * PID 1 duties, for hosts that boot with `init=/usr/local/bin/vulcan-guest`:
 * mount the pseudo filesystems, name the host, bring up `lo`, reap every
 * orphaned zombie, and turn SIGTERM/SIGINT (and Ctrl-Alt-Del) into stopping the
 * workloads and ending the VM cleanly. None of it runs when the agent is not PID 1.
 */
interface Pid1Native {
  mount(source: string, target: string, fstype: string, flags: number, data: string | null): void;
  reap(pid: number): number;
  powerOff(restart: boolean): void;
  disableCtrlAltDel(): void;
  loopbackUp(): void;
}

const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;

const MOUNTS: readonly [source: string, target: string, fstype: string, flags: number, data: string | null][] = [
  ['proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC, null],
  ['sysfs', '/sys', 'sysfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, null],
  ['devtmpfs', '/dev', 'devtmpfs', MS_NOSUID, 'mode=0755'],
  ['devpts', '/dev/pts', 'devpts', MS_NOSUID | MS_NOEXEC, 'gid=5,mode=0620,ptmxmode=0666'],
  ['tmpfs', '/dev/shm', 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=1777'],
  ['tmpfs', '/tmp', 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=1777'],
  ['tmpfs', '/run', 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=0755'],
  // favordynmods: moving a process into a fresh cgroup then costs 0.1 ms instead of ~19 ms (no synchronize_rcu).
  ['cgroup2', '/sys/fs/cgroup', 'cgroup2', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'favordynmods'],
];

/** The links udev or systemd would make: programs reopen /dev/stdout, shells use /dev/fd. */
const DEV_LINKS: readonly [target: string, link: string][] = [
  ['/proc/self/fd', '/dev/fd'],
  ['/proc/self/fd/0', '/dev/stdin'],
  ['/proc/self/fd/1', '/dev/stdout'],
  ['/proc/self/fd/2', '/dev/stderr'],
];

/** Pids the agent spawned through Node: libuv reaps those itself, so we must not. */
const ownChildren = new Set<number>();

export function trackChild(pid: number | undefined): void {
  if (pid !== undefined) ownChildren.add(pid);
}

export function untrackChild(pid: number | undefined): void {
  if (pid !== undefined) ownChildren.delete(pid);
}

function mounted(): Set<string> {
  try {
    return new Set(
      readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .map((line) => line.split(' ')[1] ?? ''),
    );
  } catch {
    return new Set(); // /proc is not mounted yet.
  }
}

/**
 * Zombie children of ours that Node does not know: orphans re-parented to PID 1.
 * Pids are returned as waitpid(2) needs them, in our own PID namespace: the
 * mounted /proc may number processes from a parent namespace (the NSpid line
 * of /proc/PID/status gives both numberings; its last one is ours).
 */
function orphanZombies(): number[] {
  const self = readlinkSync('/proc/self'); // Our pid in the numbering of the mounted /proc.
  const zombies: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command name, which may itself contain spaces and parentheses.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z' || ppid !== self) continue;
      const nspid = /^NSpid:\s+(.*)$/m
        .exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1]
        ?.trim()
        .split(/\s+/);
      const pid = Number(nspid?.at(-1) ?? name);
      if (!ownChildren.has(pid)) zombies.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return zombies;
}

export interface Init {
  /** Reaps orphaned zombies now. */
  reap(): number;
  /** Stops everything and ends the VM; never returns. */
  shutdown(reason: string, stopWorkloads: () => Promise<void>): Promise<never>;
}

/** Does what an init does; returns the handle main uses for shutdown. */
export async function becomeInit(): Promise<Init> {
  const native = await loadNative<Pid1Native>('syscalls');
  for (const [source, target, fstype, flags, data] of MOUNTS) {
    if (mounted().has(target)) continue;
    try {
      if (!existsSync(target)) mkdirSync(target, { recursive: true });
      try {
        native.mount(source, target, fstype, flags, data);
      } catch (error) {
        // A kernel without favordynmods (< 6.0) refuses the option: mount without it.
        if (data !== 'favordynmods') throw error;
        native.mount(source, target, fstype, flags, null);
      }
    } catch (error) {
      log('warn', `init: cannot mount ${fstype} on ${target}: ${(error as Error).message}`);
    }
  }
  for (const [target, link] of DEV_LINKS) {
    try {
      symlinkSync(target, link);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        log('warn', `init: cannot link ${link}: ${(error as Error).message}`);
      }
    }
  }
  try {
    writeFileSync('/proc/sys/kernel/hostname', 'vulcan');
  } catch (error) {
    log('warn', `init: cannot set the hostname: ${(error as Error).message}`);
  }
  process.env.PATH = WORKLOAD_PATH;
  process.env.HOME = '/root';
  try {
    native.loopbackUp();
  } catch (error) {
    log('warn', `init: cannot bring up lo: ${(error as Error).message}`);
  }
  try {
    native.disableCtrlAltDel();
  } catch (error) {
    log('warn', `init: Ctrl-Alt-Del stays a hard reboot: ${(error as Error).message}`);
  }

  const reap = (): number => {
    let reaped = 0;
    for (const pid of orphanZombies()) if (native.reap(pid) === pid) reaped++;
    return reaped;
  };
  let scheduled = false;
  process.on('SIGCHLD', () => {
    if (scheduled) return;
    scheduled = true;
    // Let libuv reap its own children first, then sweep what is left.
    setTimeout(() => {
      scheduled = false;
      reap();
    }, 50);
  });
  log('info', 'init: running as PID 1 (filesystems mounted, zombies reaped)');

  let stopping = false;
  return {
    reap,
    async shutdown(reason, stopWorkloads) {
      if (!stopping) {
        stopping = true;
        log('notice', `shutdown: ${reason}; stopping workloads`);
        await Promise.race([stopWorkloads(), new Promise((resolve) => setTimeout(resolve, 5000))]);
        reap();
        log('notice', 'shutdown: powering off');
        // reboot=k on the kernel command line: a restart ends a Firecracker VM, and QEMU with -no-reboot.
        native.powerOff(true);
      }
      return new Promise<never>(() => undefined);
    },
  };
}
