/**
 * Every error case of the project, named in one place. Agents put the code into
 * a result's `error_code` (extension) and hosts switch on it; tests assert on
 * codes, never on message substrings.
 */
export const ERROR_CODES = {
  // Configuration (host side).
  E_CONFIG: 'an environment variable holds a value that cannot be used',
  E_UNSUPPORTED_RUNTIME: 'the runtime is not one of go, node, python',
  // Framing and messages (both sides).
  E_FRAME_TOO_LARGE: 'a frame is longer than 16 MiB',
  E_FRAME_TRUNCATED: 'the stream ended in the middle of a frame',
  E_BAD_JSON: 'a frame does not hold valid JSON',
  E_BAD_REQUEST: 'a request field is missing or has the wrong type or value',
  E_BAD_MESSAGE: 'a guest message is not a valid log or result',
  // Host client transport.
  E_HANDSHAKE: 'the hybrid-vsock CONNECT handshake was refused or garbled',
  E_GUEST_UNREACHABLE: 'the guest did not accept a connection in time',
  E_CONNECTION_CLOSED: 'the connection closed before the result arrived',
  E_ABORTED: 'the caller aborted the run',
  E_DEADLINE: 'the caller’s deadline passed before the result arrived',
  // Workspace and archives (agent side).
  E_PATH_ESCAPE: 'a path leaves the work directory',
  E_ARCHIVE_INVALID: 'the archive is not a readable tar.gz',
  E_ARCHIVE_UNSAFE_ENTRY: 'an archive entry is of a refused kind or location',
  E_ARCHIVE_TOO_LARGE: 'the archive exceeds the size or entry-count cap',
  E_WORKSPACE: 'the work directory could not be prepared',
  // Running the workload (agent side).
  E_SPAWN: 'the runtime could not be started',
  E_TIMEOUT: 'the workload ran past its timeout and was killed',
  E_SIGNAL: 'the workload was ended by a signal',
  E_EXIT_NONZERO: 'the workload exited with a non-zero status',
  E_OOM: 'the kernel OOM killer killed the workload at its memory limit',
  E_PIDS_LIMIT: 'the workload hit its process limit',
  E_HOST_GONE: 'the host disconnected before the workload finished',
  E_SHUTDOWN: 'the agent is shutting down',
  E_INTERNAL: 'an unexpected failure inside the agent',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The project's one error type: a stable `code`, a human message, an optional field and cause. */
export class VulcanError extends Error {
  override readonly name = 'VulcanError';
  readonly code: ErrorCode;
  /** For E_BAD_REQUEST / E_CONFIG: the field or variable at fault. */
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options.field;
  }
}

/** Type guard that survives values thrown across module copies. */
export function isVulcanError(value: unknown, code?: ErrorCode): value is VulcanError {
  if (!(value instanceof Error) || value.name !== 'VulcanError') return false;
  const actual = (value as Error & { code?: unknown }).code;
  return typeof actual === 'string' && (code === undefined || actual === code);
}
