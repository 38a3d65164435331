import { type AppliedLimits, DEFAULT_TIMEOUT_S, type GuestRequest } from '@vulcan/shared';
import { LIMITS } from '../options.js';

/** What this agent can enforce, found at start-up. */
export interface Capabilities {
  /** Default timeout (`--default-timeout`). */
  readonly defaultTimeoutS: number;
  /** The most memory a workload may get (cgroup memory.max), or undefined without the memory controller. */
  readonly memoryMaxBytes: number | undefined;
  /** Whether the pids controller is there. */
  readonly pids: boolean;
}

const MIB = 1024 * 1024;

/** A requested value, or the default when absent or 0, never above the maximum. */
function pick(requested: number | undefined, fallback: number, max: number): number {
  return Math.min(requested && requested > 0 ? requested : fallback, max);
}

/**
 * The limits a run gets: the request's optional keys, defaults where absent, each
 * clamped to the agent's maxima (a request may lower a limit, never raise it past them).
 */
export function applyLimits(request: GuestRequest, capabilities: Capabilities): AppliedLimits {
  const limits: AppliedLimits = {
    timeout_s: request.timeout_s > 0 ? request.timeout_s : capabilities.defaultTimeoutS || DEFAULT_TIMEOUT_S,
    // RLIMIT_FSIZE is set by the shell in 512-byte blocks.
    max_file_bytes: Math.ceil(pick(request.max_file_bytes, LIMITS.defaultFileBytes, LIMITS.maxFileBytes) / 512) * 512,
    stream_limit_bytes: pick(request.stream_limit_bytes, LIMITS.defaultStreamBytes, LIMITS.maxStreamBytes),
    output_limit_bytes: pick(request.output_limit_bytes, LIMITS.maxOutputBytes, LIMITS.maxOutputBytes),
    log_limit_bytes: pick(request.log_limit_bytes, LIMITS.maxLogBytes, LIMITS.maxLogBytes),
  };
  if (capabilities.memoryMaxBytes !== undefined) {
    const maxMb = Math.floor(capabilities.memoryMaxBytes / MIB);
    limits.memory_mb = pick(request.memory_mb, maxMb, maxMb);
  }
  if (capabilities.pids) limits.max_pids = pick(request.max_pids, LIMITS.defaultPids, LIMITS.maxPids);
  return limits;
}
