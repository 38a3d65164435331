import * as v from 'valibot';
import { isRuntime, MAX_TIMEOUT_S, type Runtime, SUPPORTED_RUNTIMES } from './constants.js';
import { type ErrorCode, VulcanError } from './errors.js';
import { goJSONStringify, goQuote } from './gojson.js';

/**
 * Wire types (PROTOCOL.md §3–4). Property names are the exact JSON keys; byte
 * fields (`code_archive`, `input`) are base64 text on the wire and bytes here.
 */

/**
 * Per-request limits (extension). Each is optional; absent or 0 means the agent's
 * default, and each is clamped to the agent's maximum (README: protocol table).
 */
export interface RequestLimits {
  /** cgroup memory.max of the workload, MiB. */
  memory_mb?: number;
  /** cgroup pids.max of the workload. */
  max_pids?: number;
  /** Largest file the workload may write (RLIMIT_FSIZE), bytes, rounded up to 512. */
  max_file_bytes?: number;
  /** Output bytes streamed as log messages; beyond it lines are only counted and captured. */
  stream_limit_bytes?: number;
  /** Bytes of stdout kept in `output` (half head, half tail). */
  output_limit_bytes?: number;
  /** Bytes of stderr kept in `log_lines` (half head, half tail). */
  log_limit_bytes?: number;
}

/** The limits a run got, after defaults and clamping (extension, in the result). */
export interface AppliedLimits {
  timeout_s: number;
  memory_mb?: number;
  max_pids?: number;
  max_file_bytes: number;
  stream_limit_bytes: number;
  output_limit_bytes: number;
  log_limit_bytes: number;
}

/** Host → guest: one workload. */
export interface GuestRequest extends RequestLimits {
  runtime: Runtime;
  /** Source of the entrypoint file (legacy: base64 of a tar.gz). */
  code: string;
  /** tar.gz archive extracted into the work dir. */
  code_archive?: Uint8Array;
  /** The program's stdin. */
  input?: Uint8Array;
  /** Extra environment variables, merged over the agent's clean environment. */
  env?: Record<string, string>;
  /** File to run, relative to the work dir; defaults per runtime. */
  entrypoint?: string;
  /** Seconds; 0 means the agent's default. */
  timeout_s: number;
}

/** Host → guest (extension): a health check, answered at once with the agent's facts. */
export interface PingRequest {
  type: 'ping';
}

/** Everything the agent accepts on a connection. */
export type AgentRequest = GuestRequest | PingRequest;

/** Which pipe a log line came from (extension). */
export type LogStream = 'stdout' | 'stderr';

/** Outcome word a host can switch on (extension). */
export type RunStatus =
  | 'ok'
  | 'exit_nonzero'
  | 'timeout'
  | 'oom'
  | 'pids_limit'
  | 'signal'
  | 'internal_error'
  | 'bad_request';

/** Guest → host: the final answer. The first four keys are what the Go host reads. */
export interface GuestResponse {
  exit_code: number;
  /** The program's stdout (capped; see `truncated`). */
  output: string;
  /** What went wrong, as a sentence; absent on success. */
  error?: string;
  /** The program's stderr lines (capped; see `truncated`). */
  log_lines?: string[];
  // Extensions: a Go host ignores every key below.
  /** Outcome word. */
  status?: RunStatus;
  /** Stable code of `error`. */
  error_code?: ErrorCode;
  /** The run was killed at its timeout. */
  timed_out?: boolean;
  /** Name of the signal that ended the program (e.g. "SIGKILL"). */
  signal?: string;
  /** Wall time from spawn to exit, in milliseconds. */
  duration_ms?: number;
  /** `output`, `log_lines` or the stream lost bytes to a cap. */
  truncated?: boolean;
  /** Exact bytes the program wrote to stdout and to stderr. */
  stdout_bytes?: number;
  stderr_bytes?: number;
  /** Which cap cut what: `output`, `log_lines`, the streamed lines. */
  output_truncated?: boolean;
  log_truncated?: boolean;
  stream_truncated?: boolean;
  /** CPU time of the whole process tree, user + system, ms (needs cgroup v2). */
  cpu_ms?: number;
  /** Peak memory of the workload, bytes (cgroup memory.peak). */
  memory_peak_bytes?: number;
  /** The kernel's OOM killer killed a process of the workload. */
  oom_killed?: boolean;
  /** The limits the run got. */
  limits?: AppliedLimits;
  /** Ping answers: the agent's version, its Node, its uptime and the runtimes this image has. */
  agent_version?: string;
  node_version?: string;
  uptime_ms?: number;
  runtimes?: string[];
}

/** One line of program output. `line` has no trailing newline. */
export interface LogMessage {
  type: 'log';
  line: string;
  /** Extension. */
  stream?: LogStream;
  /** Extension: position of the line among all lines of the connection, from 1, across both streams. */
  seq?: number;
}

/** The final message of a connection. */
export interface ResultMessage {
  type: 'result';
  response: GuestResponse;
}

/** Every guest → host frame is one of these. */
export type GuestMessage = LogMessage | ResultMessage;

// ---------------------------------------------------------------------------
// Decoding a request (the agent's side).

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** POSIX-portable environment names; anything else is refused. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Standard base64 with padding, as Go writes []byte; Go's decoder skips CR and LF. */
const base64Bytes = v.pipe(
  v.string('expected base64 text'),
  v.transform((text) => text.replace(/[\r\n]/g, '')),
  v.check((text) => BASE64.test(text), 'is not standard padded base64'),
  v.transform((text): Uint8Array => Buffer.from(text, 'base64')),
);

const noNul = (what: string) => v.check((text: string) => !text.includes('\0'), `${what} must not contain NUL`);

/** A limit: a non-negative integer; 0 and null mean "the agent's default". */
const limit = v.nullish(
  v.pipe(
    v.number('expected a non-negative integer'),
    v.integer('expected a non-negative integer'),
    v.minValue(0, 'must not be negative'),
    v.maxValue(Number.MAX_SAFE_INTEGER, 'is too large'),
  ),
);

const requestSchema = v.object({
  runtime: v.pipe(
    v.nullish(v.string('expected a string'), ''),
    v.check<string, (issue: v.CheckIssue<string>) => string>(
      (text: string) => isRuntime(text),
      (issue) =>
        `unsupported runtime ${JSON.stringify(issue.input)}: supported runtimes are ${SUPPORTED_RUNTIMES.join(', ')}`,
    ),
  ),
  code: v.nullish(v.string('expected a string'), ''),
  code_archive: v.nullish(base64Bytes),
  input: v.nullish(base64Bytes),
  env: v.nullish(
    v.record(
      v.pipe(
        v.string(),
        v.regex(ENV_NAME, (issue) => `invalid variable name ${JSON.stringify(issue.input)}`),
      ),
      v.pipe(v.nullish(v.string('expected a string value'), ''), noNul('a value')),
      'expected an object of strings',
    ),
  ),
  entrypoint: v.nullish(v.pipe(v.string('expected a string'), noNul('the entrypoint'))),
  timeout_s: v.pipe(
    v.nullish(v.number('expected an integer number of seconds'), 0),
    v.integer('expected an integer number of seconds'),
    v.minValue(0, 'must not be negative'),
    v.maxValue(MAX_TIMEOUT_S, `must be at most ${MAX_TIMEOUT_S}`),
  ),
  memory_mb: limit,
  max_pids: limit,
  max_file_bytes: limit,
  stream_limit_bytes: limit,
  output_limit_bytes: limit,
  log_limit_bytes: limit,
});

const LIMIT_KEYS = [
  'memory_mb',
  'max_pids',
  'max_file_bytes',
  'stream_limit_bytes',
  'output_limit_bytes',
  'log_limit_bytes',
] as const;

const REQUEST_KEYS = Object.keys(requestSchema.entries);

/**
 * Go's decoder matches object keys to fields case-insensitively (an exact match
 * wins) and a repeated key overwrites the earlier one; mirror that so any JSON
 * the Go agent accepted, we accept.
 */
export function foldKeys(input: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const field = keys.includes(key) ? key : keys.find((k) => k.toLowerCase() === key.toLowerCase());
    if (field !== undefined) out[field] = value;
  }
  return out;
}

/** Parses JSON text or bytes; E_BAD_JSON when it is not JSON. */
export function parseJSON(payload: Uint8Array | string): unknown {
  const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new VulcanError('E_BAD_JSON', `frame is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validate<T>(schema: v.GenericSchema<unknown, T>, input: unknown, code: ErrorCode, what: string): T {
  const result = v.safeParse(schema, input, { abortEarly: true });
  if (result.success) return result.output;
  const issue = result.issues[0];
  const field = (issue && v.getDotPath(issue)) || what;
  throw new VulcanError(code, `${what}: field ${field}: ${issue?.message ?? 'invalid'}`, { field });
}

/** Validates a decoded JSON value as a request. Unknown keys are ignored; violations throw E_BAD_REQUEST naming the field. */
export function toRequest(value: unknown): GuestRequest {
  if (!isPlainObject(value)) {
    throw new VulcanError('E_BAD_REQUEST', 'request: expected a JSON object', { field: 'request' });
  }
  const fields = foldKeys(value, REQUEST_KEYS);
  if (Array.isArray(fields.env)) {
    throw new VulcanError('E_BAD_REQUEST', 'bad request: field env: expected an object of strings', { field: 'env' });
  }
  const parsed = validate(requestSchema, fields, 'E_BAD_REQUEST', 'bad request');
  const request: GuestRequest = {
    runtime: parsed.runtime as Runtime,
    code: parsed.code,
    timeout_s: parsed.timeout_s,
  };
  if (parsed.code_archive) request.code_archive = parsed.code_archive;
  if (parsed.input) request.input = parsed.input;
  if (parsed.env) request.env = parsed.env as Record<string, string>;
  if (parsed.entrypoint) request.entrypoint = parsed.entrypoint;
  for (const key of LIMIT_KEYS) {
    const value = parsed[key];
    if (value) request[key] = value;
  }
  return request;
}

/**
 * Decodes what a connection carries: a run request (what the Go host sends, with
 * no `type`) or a ping (`{"type":"ping"}`, extension). E_BAD_JSON / E_BAD_REQUEST otherwise.
 */
export function decodeAgentRequest(payload: Uint8Array | string): AgentRequest {
  const value = parseJSON(payload);
  const type = isPlainObject(value) ? foldKeys(value, ['type']).type : undefined;
  if (type === 'ping') return { type: 'ping' };
  if (type !== undefined && type !== null && type !== 'run') {
    throw new VulcanError('E_BAD_REQUEST', `bad request: field type: unknown request type ${JSON.stringify(type)}`, {
      field: 'type',
    });
  }
  return toRequest(value);
}

/** Decodes one frame payload into a request: E_BAD_JSON or E_BAD_REQUEST on failure. */
export function decodeRequest(payload: Uint8Array | string): GuestRequest {
  return toRequest(parseJSON(payload));
}

// ---------------------------------------------------------------------------
// Encoding (byte-compatible with Go's encoding/json).

const b64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** Encodes a request exactly as the Go host's json.Marshal(GuestRequest) would. */
export function encodeRequest(request: GuestRequest): Buffer {
  const wire: Record<string, unknown> = { runtime: request.runtime, code: request.code };
  if (request.code_archive && request.code_archive.byteLength > 0) wire.code_archive = b64(request.code_archive);
  if (request.input && request.input.byteLength > 0) wire.input = b64(request.input);
  if (request.env && Object.keys(request.env).length > 0) {
    const sorted: Record<string, string> = {};
    for (const key of Object.keys(request.env).sort()) sorted[key] = request.env[key] as string;
    wire.env = sorted;
  }
  if (request.entrypoint) wire.entrypoint = request.entrypoint;
  wire.timeout_s = request.timeout_s;
  for (const key of LIMIT_KEYS) if (request[key]) wire[key] = request[key];
  return Buffer.from(goJSONStringify(wire), 'utf8');
}

/** Encodes a ping request. */
export function encodePing(): Buffer {
  return Buffer.from('{"type":"ping"}', 'utf8');
}

/** Key order of a response on the wire: Go's struct order, then the extensions. */
const RESPONSE_ORDER = [
  'exit_code',
  'output',
  'error',
  'log_lines',
  'status',
  'error_code',
  'timed_out',
  'signal',
  'duration_ms',
  'truncated',
  'stdout_bytes',
  'stderr_bytes',
  'output_truncated',
  'log_truncated',
  'stream_truncated',
  'cpu_ms',
  'memory_peak_bytes',
  'oom_killed',
  'limits',
  'agent_version',
  'node_version',
  'uptime_ms',
  'runtimes',
] as const satisfies readonly (keyof GuestResponse)[];
const OMIT_EMPTY: ReadonlySet<string> = new Set(['error', 'log_lines', 'status', 'error_code', 'signal']);
const LIMITS_ORDER = ['timeout_s', ...LIMIT_KEYS] as const satisfies readonly (keyof AppliedLimits)[];

function orderedResponse(response: GuestResponse): Record<string, unknown> {
  const wire: Record<string, unknown> = {};
  for (const key of RESPONSE_ORDER) {
    const value = response[key];
    if (value === undefined) continue;
    if (OMIT_EMPTY.has(key) && (value === '' || (Array.isArray(value) && value.length === 0))) continue;
    wire[key] = key === 'limits' ? orderedLimits(value as AppliedLimits) : value;
  }
  return wire;
}

function orderedLimits(limits: AppliedLimits): Record<string, number> {
  const wire: Record<string, number> = {};
  for (const key of LIMITS_ORDER) {
    const value = limits[key];
    if (value !== undefined) wire[key] = value;
  }
  return wire;
}

/** Go's `line,omitempty`: an empty line is left out (and decodes back to ""). */
function orderedLog(message: LogMessage): Record<string, unknown> {
  const wire: Record<string, unknown> = { type: 'log' };
  if (message.line !== '') wire.line = message.line;
  if (message.stream !== undefined) wire.stream = message.stream;
  if (message.seq !== undefined) wire.seq = message.seq;
  return wire;
}

/**
 * The JSON text of a log message, byte-identical to `encodeMessage` of the same
 * message, without building an object: the hot path of streaming. `line` must
 * be well-formed UTF-16 (true of any text decoded from bytes).
 */
export function logMessageJSON(line: string, stream?: LogStream, seq?: number): string {
  const tail = `${stream === undefined ? '' : `,"stream":"${stream}"`}${seq === undefined ? '' : `,"seq":${seq}`}}`;
  return line === '' ? `{"type":"log"${tail}` : `{"type":"log","line":${goQuote(line)}${tail}`;
}

/** Encodes a guest message with Go's key order, omitempty rules and escapes. */
export function encodeMessage(message: GuestMessage): Buffer {
  const wire: Record<string, unknown> =
    message.type === 'log' ? orderedLog(message) : { type: 'result', response: orderedResponse(message.response) };
  return Buffer.from(goJSONStringify(wire), 'utf8');
}

// ---------------------------------------------------------------------------
// Decoding guest messages (the host's side), as strictly as the Go host.

const stringList = v.array(v.string('expected a string'), 'expected an array of strings');
const responseSchema = v.object({
  exit_code: v.nullish(v.pipe(v.number('expected an integer'), v.integer('expected an integer')), 0),
  output: v.nullish(v.string('expected a string'), ''),
  error: v.nullish(v.string('expected a string')),
  log_lines: v.nullish(stringList),
  status: v.nullish(v.string('expected a string')),
  error_code: v.nullish(v.string('expected a string')),
  timed_out: v.nullish(v.boolean('expected a boolean')),
  signal: v.nullish(v.string('expected a string')),
  duration_ms: v.nullish(v.number('expected a number')),
  truncated: v.nullish(v.boolean('expected a boolean')),
  stdout_bytes: v.nullish(v.number('expected a number')),
  stderr_bytes: v.nullish(v.number('expected a number')),
  output_truncated: v.nullish(v.boolean('expected a boolean')),
  log_truncated: v.nullish(v.boolean('expected a boolean')),
  stream_truncated: v.nullish(v.boolean('expected a boolean')),
  cpu_ms: v.nullish(v.number('expected a number')),
  memory_peak_bytes: v.nullish(v.number('expected a number')),
  oom_killed: v.nullish(v.boolean('expected a boolean')),
  limits: v.nullish(v.record(v.string(), v.number('expected a number'), 'expected an object of numbers')),
  agent_version: v.nullish(v.string('expected a string')),
  node_version: v.nullish(v.string('expected a string')),
  uptime_ms: v.nullish(v.number('expected a number')),
  runtimes: v.nullish(stringList),
});
const RESPONSE_KEYS = Object.keys(responseSchema.entries);
const logSchema = v.object({
  line: v.nullish(v.string('expected a string'), ''),
  stream: v.nullish(v.picklist(['stdout', 'stderr'], 'expected "stdout" or "stderr"')),
  seq: v.nullish(v.pipe(v.number('expected an integer'), v.integer('expected an integer'))),
});

/** Validates a decoded JSON value as a guest message; E_BAD_MESSAGE otherwise. */
export function toMessage(value: unknown): GuestMessage {
  if (!isPlainObject(value)) throw new VulcanError('E_BAD_MESSAGE', 'guest message: expected a JSON object');
  const envelope = foldKeys(value, ['type', 'line', 'stream', 'seq', 'response']);
  if (envelope.type === 'log') {
    const log = validate(logSchema, envelope, 'E_BAD_MESSAGE', 'bad log message');
    const message: LogMessage = { type: 'log', line: log.line };
    if (log.stream) message.stream = log.stream;
    if (typeof log.seq === 'number') message.seq = log.seq;
    return message;
  }
  if (envelope.type === 'result') {
    if (!isPlainObject(envelope.response)) {
      throw new VulcanError('E_BAD_MESSAGE', 'result message without a response', { field: 'response' });
    }
    const parsed = validate(responseSchema, foldKeys(envelope.response, RESPONSE_KEYS), 'E_BAD_MESSAGE', 'bad result');
    const response: GuestResponse = { exit_code: parsed.exit_code, output: parsed.output };
    for (const [key, value] of Object.entries(parsed)) {
      if (value !== undefined && value !== null) (response as unknown as Record<string, unknown>)[key] = value;
    }
    return { type: 'result', response };
  }
  throw new VulcanError('E_BAD_MESSAGE', `unknown guest message type ${JSON.stringify(envelope.type)}`, {
    field: 'type',
  });
}

/** Decodes one frame payload into a guest message. */
export function decodeMessage(payload: Uint8Array | string): GuestMessage {
  return toMessage(parseJSON(payload));
}
