import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { log } from '../log.js';

/**
 * cgroup v2 for workloads: every process a workload starts lands in one cgroup,
 * so killing it is one write to cgroup.kill (grandchildren, daemons and
 * setsid escapees included), and memory/pids limits hold it away from the agent.
 * Where cgroup v2 or a controller is missing the agent degrades to process-group
 * and per-user kills, and says so once at start-up.
 */

export interface CgroupLimits {
  readonly memoryMaxBytes?: number | undefined;
  readonly pidsMax?: number | undefined;
}

/** Counters read after a run. Undefined where the controller is not available. */
export interface CgroupStats {
  /** CPU time of everything that ran in the cgroup (cpu.stat usage_usec; present without the cpu controller). */
  readonly cpuUsec?: number | undefined;
  readonly memoryPeakBytes?: number | undefined;
  readonly oomKills?: number | undefined;
  readonly pidsMaxHits?: number | undefined;
}

function readNumber(file: string): number | undefined {
  try {
    const value = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function readKeyed(file: string, key: string): number | undefined {
  try {
    const line = readFileSync(file, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${key} `));
    return line === undefined ? undefined : Number(line.slice(key.length + 1));
  } catch {
    return undefined;
  }
}

/** One workload's cgroup. */
export class WorkloadCgroup {
  constructor(readonly dir: string) {}

  /** Moves a process in; its future children follow. */
  add(pid: number): void {
    writeFileSync(path.join(this.dir, 'cgroup.procs'), String(pid));
  }

  /** Pids still inside. */
  pids(): number[] {
    try {
      return readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** SIGKILLs every process inside (cgroup.kill, or one by one on older kernels). */
  kill(): void {
    try {
      writeFileSync(path.join(this.dir, 'cgroup.kill'), '1');
      return;
    } catch {
      // No cgroup.kill (kernel < 5.14): fall through.
    }
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  stats(): CgroupStats {
    return {
      cpuUsec: readKeyed(path.join(this.dir, 'cpu.stat'), 'usage_usec'),
      memoryPeakBytes: readNumber(path.join(this.dir, 'memory.peak')),
      oomKills: readKeyed(path.join(this.dir, 'memory.events'), 'oom_kill'),
      pidsMaxHits: readKeyed(path.join(this.dir, 'pids.events'), 'max'),
    };
  }

  /** Kills what is left and removes the cgroup, waiting briefly for the kernel to empty it. */
  async remove(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      this.kill();
      try {
        rmdirSync(this.dir);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      }
      await sleep(20);
    }
    log('warn', `cgroup ${this.dir} could not be removed`);
  }
}

/** Finds the cgroup v2 mount and this process's cgroup; creates the parent for workloads. */
export class Cgroups {
  #next = 0;
  private constructor(
    readonly parent: string,
    readonly controllers: ReadonlySet<string>,
  ) {}

  /** Returns null when there is no writable cgroup v2 here. */
  static detect(): Cgroups | null {
    let mount: string | undefined;
    let own: string | undefined;
    try {
      mount = readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .map((line) => line.split(' '))
        .find((fields) => fields[2] === 'cgroup2')?.[1];
      own = readFileSync('/proc/self/cgroup', 'utf8')
        .split('\n')
        .find((line) => line.startsWith('0::'))
        ?.slice(3);
    } catch {
      return null;
    }
    if (mount === undefined || own === undefined) return null;
    const base = path.join(mount, own);
    const parent = path.join(base, 'vulcan-workloads');
    try {
      mkdirSync(parent, { recursive: true });
    } catch {
      return null;
    }
    const wanted = ['memory', 'pids'];
    // Enabling controllers for children fails in a non-root cgroup that holds processes (EBUSY): then we go without.
    for (const dir of [base, parent]) {
      for (const controller of wanted) {
        try {
          writeFileSync(path.join(dir, 'cgroup.subtree_control'), `+${controller}`);
        } catch {
          // Not available here.
        }
      }
    }
    let enabled: string[] = [];
    try {
      enabled = readFileSync(path.join(parent, 'cgroup.subtree_control'), 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      // Leave empty.
    }
    return new Cgroups(parent, new Set(enabled));
  }

  /** Creates a fresh cgroup for one run and applies the limits its controllers support. */
  create(limits: CgroupLimits): WorkloadCgroup {
    const dir = path.join(this.parent, `${process.pid}-${++this.#next}`);
    mkdirSync(dir);
    const cgroup = new WorkloadCgroup(dir);
    const set = (file: string, value: number | undefined): void => {
      if (value === undefined || !existsSync(path.join(dir, file))) return;
      writeFileSync(path.join(dir, file), String(value));
    };
    set('memory.max', limits.memoryMaxBytes);
    set('memory.swap.max', limits.memoryMaxBytes === undefined ? undefined : 0);
    set('pids.max', limits.pidsMax);
    return cgroup;
  }
}
