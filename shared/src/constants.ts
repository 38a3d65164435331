/**
 * Named constants shared by the guest agent and every host (seed task 4-1).
 * Values here are part of the contract with the Go host: change none lightly.
 */

/** Guest port the agent listens on (AF_VSOCK). */
export const DEFAULT_VSOCK_PORT = 1024;

/** First context ID a guest may use; CIDs 0–2 are reserved (hypervisor, local, host). */
export const MIN_CID = 3;

/** vCPUs a microVM gets unless the host says otherwise. */
export const DEFAULT_VCPUS = 1;

/** Memory a microVM gets unless the host says otherwise, in MiB. */
export const DEFAULT_MEM_MB = 128;

/** Runtimes a request may ask for; each has an image `<runtime>.ext4`. */
export const SUPPORTED_RUNTIMES = ['go', 'node', 'python'] as const;
export type Runtime = (typeof SUPPORTED_RUNTIMES)[number];

/** Rootfs file name pattern: `%s` is the runtime (Go's `RootfsFilename`). */
export const ROOTFS_FILENAME = '%s.ext4';

/** Directory inside the guest where workloads run. */
export const GUEST_WORK_DIR = '/work';

/** Where the agent binary is installed inside each image. */
export const GUEST_AGENT_PATH = '/usr/local/bin/vulcan-guest';

/** Largest frame payload either side accepts: 16 MiB exactly is allowed. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Size of the big-endian length prefix of every frame. */
export const FRAME_HEADER_BYTES = 4;

/** Timeout applied when a request says `timeout_s: 0` (the original agent's 30 s). */
export const DEFAULT_TIMEOUT_S = 30;

/** Largest `timeout_s` a request may carry (one day); larger values are refused. */
export const MAX_TIMEOUT_S = 86_400;

/** Default entrypoint file per runtime, relative to the work dir. */
export const DEFAULT_ENTRYPOINTS: Readonly<Record<Runtime, string>> = Object.freeze({
  go: 'main.go',
  node: 'index.js',
  python: 'main.py',
});

/** Returns true when `value` names a supported runtime. */
export function isRuntime(value: unknown): value is Runtime {
  return typeof value === 'string' && (SUPPORTED_RUNTIMES as readonly string[]).includes(value);
}
