import os from 'node:os';
import path from 'node:path';
import { DEFAULT_TIMEOUT_S, DEFAULT_VSOCK_PORT, GUEST_WORK_DIR } from '@vulcan/shared';

/** Where the agent accepts connections. vsock is what ships; unix and tcp are for development and tests. */
export type ListenSpec =
  | { readonly kind: 'vsock'; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/** Everything the agent can be told, with one frozen set of defaults below. */
export interface AgentOptions {
  /** Where to listen. `--listen`. */
  readonly listen: ListenSpec;
  /** Directory the workload runs in; emptied before each run. `--work-dir`. */
  readonly workDir: string;
  /** User to run workloads as when the agent is root. `--run-as`; null: the default user. */
  readonly runAs: string | null;
  /** Scratch space for the workload's HOME and TMPDIR, emptied before each run. */
  readonly scratchDir: string;
  /** Go build cache to use when it exists (pre-warmed in go.ext4). `--go-cache`. */
  readonly goCache: string;
  /** Timeout applied to `timeout_s: 0`, in seconds. */
  readonly defaultTimeoutS: number;
  /** Log only warnings and errors. `--quiet`. */
  readonly quiet: boolean;
}

/** User the images create for workloads; `nobody` is the fallback. */
export const WORKLOAD_USER = 'vulcan';
export const FALLBACK_USER = 'nobody';

export const DEFAULT_OPTIONS: Readonly<AgentOptions> = Object.freeze({
  listen: Object.freeze({ kind: 'vsock', port: DEFAULT_VSOCK_PORT }),
  workDir: GUEST_WORK_DIR,
  runAs: null,
  scratchDir: path.join(os.tmpdir(), `vulcan-guest-${process.pid}`),
  goCache: '/var/cache/vulcan/go-build',
  defaultTimeoutS: DEFAULT_TIMEOUT_S,
  quiet: false,
});

/**
 * Caps and timings of the agent. Each is documented in the README; the result
 * caps keep every result frame below 16 MiB even when every character needs a
 * 6-byte JSON escape.
 */
export const LIMITS = Object.freeze({
  /** A line longer than this is split into several log messages. */
  maxLineBytes: 64 * 1024,
  /** Bytes of stdout kept in `output` (half head, half tail): default and maximum. */
  maxOutputBytes: 1024 * 1024,
  /** Bytes of stderr kept in `log_lines` (half head, half tail): default and maximum. */
  maxLogBytes: 512 * 1024,
  /** Archive caps (tar bombs): total bytes of all entries, and entry count. */
  maxArchiveBytes: 256 * 1024 * 1024,
  maxArchiveEntries: 10_000,
  /** Workload output read between two forced GCs (see memory.ts). */
  gcEveryBytes: 8 * 1024 * 1024,
  /** Bytes queued on a connection before the workload's pipes are paused. */
  sendHighWater: 256 * 1024,
  /** How long a host may take to start sending its request before it is told off. */
  requestTimeoutMs: 60_000,
  /** After the workload ended, how long a host that does not read may hold the result. */
  resultSendTimeoutMs: 30_000,
  /** After the main process ended, how long to wait for its pipes to close. */
  pipeDrainMs: 2_000,
  /** Memory kept for the agent and the kernel when limiting a workload's cgroup. */
  agentReserveBytes: 48 * 1024 * 1024,
  /** Processes a workload may have (cgroup pids.max): default and the most a request may ask. */
  defaultPids: 512,
  maxPids: 4096,
  /** Largest file a workload may write (RLIMIT_FSIZE): default and maximum. */
  defaultFileBytes: 128 * 1024 * 1024,
  maxFileBytes: 1024 * 1024 * 1024,
  /** Output streamed as log messages per run: default and maximum. A host that knows no
   * extension (the Go host) gets everything up to the maximum. */
  defaultStreamBytes: 1024 * 1024 * 1024,
  maxStreamBytes: 1024 * 1024 * 1024,
});
