import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import {
  type AppliedLimits,
  type ErrorCode,
  type GuestRequest,
  type GuestResponse,
  isVulcanError,
  type LogStream,
  type RunStatus,
} from '@vulcan/shared';
import { log } from '../log.js';
import { GarbageBudget } from '../memory.js';
import { LIMITS } from '../options.js';
import { trackChild, untrackChild } from '../pid1.js';
import type { FrameSender } from '../sender.js';
import { materialise, resetDir } from '../workspace/workspace.js';
import type { CgroupStats, Cgroups, WorkloadCgroup } from './cgroup.js';
import { WORKLOAD_PATH, workloadEnv } from './environment.js';
import type { Identity } from './identity.js';
import { applyLimits, type Capabilities } from './limits.js';
import { ByteCapture, LineSplitter } from './output.js';
import { type OutputPipe, openOutputPipes } from './pipes.js';
import { findOnPath, RUNTIMES } from './runtimes.js';
import { killUser } from './sweep.js';

/** What a run needs from the agent. */
export interface RunContext extends Capabilities {
  readonly workDir: string;
  readonly scratchDir: string;
  readonly goCache: string;
  readonly identity: Identity | null;
  readonly cgroups: Cgroups | null;
}

/**
 * Started by /bin/sh as the workload user: waits on fd 3 until the agent has put
 * it into its cgroup, so not one instruction of the workload runs outside it;
 * makes itself the OOM killer's first choice (the agent is its last); sets the
 * file size limit ($1, in 512-byte blocks); then execs the runtime.
 */
const WRAPPER =
  'read -r _ <&3 || exit 125; exec 3<&-; echo 1000 >/proc/self/oom_score_adj 2>/dev/null; ' +
  'ulimit -f "$1" || exit 125; shift; exec "$@"';

/** Exit code reported for a timeout, as timeout(1) does. */
export const TIMEOUT_EXIT_CODE = 124;

const STATUS_OF: Partial<Record<ErrorCode, RunStatus>> = {
  E_BAD_REQUEST: 'bad_request',
  E_PATH_ESCAPE: 'bad_request',
  E_ARCHIVE_INVALID: 'bad_request',
  E_ARCHIVE_UNSAFE_ENTRY: 'bad_request',
  E_ARCHIVE_TOO_LARGE: 'bad_request',
  E_BAD_JSON: 'bad_request',
  E_FRAME_TOO_LARGE: 'bad_request',
  E_FRAME_TRUNCATED: 'bad_request',
};

/** A result for a run that failed before (or instead of) running the program. */
export function failureResponse(code: ErrorCode, message: string): GuestResponse {
  return {
    exit_code: 1,
    output: '',
    error: message,
    status: STATUS_OF[code] ?? 'internal_error',
    error_code: code,
  };
}

/** Turns anything thrown while preparing a run into a failure result. */
export function failureFrom(error: unknown): GuestResponse {
  if (isVulcanError(error)) return failureResponse(error.code, error.message);
  const message = (error as Error)?.message ?? String(error);
  return failureResponse('E_INTERNAL', `internal error: ${message}`);
}

function signalNumber(name: NodeJS.Signals): number {
  return osConstants.signals[name] ?? 0;
}

/** Per-run HOME (and TMPDIR inside it) under the scratch dir, emptied like the work dir. */
async function prepareHome(scratchDir: string, identity: Identity | null): Promise<string> {
  mkdirSync(scratchDir, { recursive: true, mode: 0o755 });
  const home = path.join(scratchDir, 'home');
  await resetDir(home, identity);
  await resetDir(path.join(home, 'tmp'), identity);
  return home;
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs one request from start to result: prepares the work dir, spawns the
 * runtime as the workload user in its own process group and cgroup, streams
 * every line through `sender`, enforces the timeout, and kills everything the
 * workload started before returning. Never throws: failures are results.
 */
export async function runWorkload(
  request: GuestRequest,
  context: RunContext,
  sender: FrameSender,
  hostGone: AbortSignal,
): Promise<GuestResponse> {
  const spec = RUNTIMES[request.runtime];
  if (!findOnPath(spec.binary, WORKLOAD_PATH)) {
    return failureResponse(
      'E_SPAWN',
      `runtime ${request.runtime} is not available: ${spec.binary} not found in this image`,
    );
  }
  let home: string;
  let entrypoint: string;
  try {
    [, home] = await Promise.all([
      resetDir(context.workDir, context.identity),
      prepareHome(context.scratchDir, context.identity),
    ]);
    ({ entrypoint } = await materialise(request, context.workDir, context.identity));
  } catch (error) {
    if (isVulcanError(error)) return failureFrom(error);
    return failureResponse('E_WORKSPACE', `cannot prepare ${context.workDir}: ${(error as Error).message}`);
  }
  const command = spec.command({ workDir: context.workDir, entrypoint, scratch: path.join(home, 'tmp') });
  const env = workloadEnv({
    user: context.identity?.name ?? process.env.USER ?? 'root',
    home,
    goCache: context.goCache,
    extra: request.env,
  });

  const limits = applyLimits(request, context);
  let cgroup: WorkloadCgroup | null = null;
  try {
    cgroup =
      context.cgroups?.create({
        memoryMaxBytes: limits.memory_mb === undefined ? undefined : limits.memory_mb * 1024 * 1024,
        pidsMax: limits.max_pids,
      }) ?? null;
  } catch (error) {
    log('warn', `no cgroup for this run: ${(error as Error).message}`);
  }
  try {
    return { ...(await supervise({ request, context, sender, hostGone, command, env, cgroup, limits })), limits };
  } finally {
    // Everything in it is already dead (killTree); the kernel empties it shortly. No one waits on that.
    void cgroup?.remove();
  }
}

interface SuperviseInput {
  request: GuestRequest;
  context: RunContext;
  sender: FrameSender;
  hostGone: AbortSignal;
  command: { file: string; args: readonly string[] };
  env: Record<string, string>;
  cgroup: WorkloadCgroup | null;
  limits: AppliedLimits;
}

async function supervise(input: SuperviseInput): Promise<GuestResponse> {
  const { context, sender, hostGone, cgroup, limits } = input;
  const started = process.hrtime.bigint();
  const identity = context.identity;
  let outputPipes: [OutputPipe, OutputPipe] | null;
  try {
    outputPipes = await openOutputPipes(identity);
  } catch (error) {
    return failureResponse('E_SPAWN', `cannot create the output pipes: ${(error as Error).message}`);
  }
  let child: ChildProcess;
  try {
    const fileBlocks = String(limits.max_file_bytes / 512);
    child = spawn(
      '/bin/sh',
      ['-c', WRAPPER, 'vulcan-workload', fileBlocks, input.command.file, ...input.command.args],
      {
        cwd: context.workDir,
        env: input.env,
        detached: true, // setsid: own session and process group, so one kill reaches the whole tree
        // fd 3 carries the go-ahead (see WRAPPER).
        stdio: ['pipe', outputPipes?.[0].childFd ?? 'pipe', outputPipes?.[1].childFd ?? 'pipe', 'pipe'],
        ...(identity ? { uid: identity.uid, gid: identity.gid } : {}),
      },
    );
  } catch (error) {
    for (const pipe of outputPipes ?? []) pipe.discard();
    return failureResponse('E_SPAWN', `cannot start ${input.command.file}: ${(error as Error).message}`);
  } finally {
    // The child has its own copies now: only then does it see end of file when it closes them.
    for (const pipe of outputPipes ?? []) pipe.closeChildEnd();
  }

  trackChild(child.pid);
  const exited = new Promise<Outcome | Error>((resolve) => {
    child.once('exit', (code, signal) => {
      untrackChild(child.pid);
      resolve({ code, signal });
    });
    child.once('error', (error) => resolve(error));
  });
  const pid = child.pid;
  const killTree = (): void => {
    cgroup?.kill();
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // The group is gone.
      }
    }
    if (!cgroup && identity) killUser(identity.uid);
  };

  // Output: every line streams as a log message up to the stream cap; the result keeps capped copies.
  const half = (n: number): [number, number] => [Math.floor(n / 2), n - Math.floor(n / 2)];
  const stdoutCapture = new ByteCapture(...half(limits.output_limit_bytes));
  const stderrCapture = new ByteCapture(...half(limits.log_limit_bytes));
  let streamed = 0;
  let streamTruncated = false;
  const emit = (stream: LogStream) => (line: string, bytes: number) => {
    // Past the cap lines are no longer sent, but the pipes keep being read: the program never blocks on it.
    if (streamTruncated || streamed + bytes > limits.stream_limit_bytes) {
      streamTruncated = true;
      return;
    }
    streamed += bytes;
    sender.sendLog(line, stream);
  };
  const stdoutLines = new LineSplitter(LIMITS.maxLineBytes, emit('stdout'));
  const stderrLines = new LineSplitter(LIMITS.maxLineBytes, emit('stderr'));
  // Bounds the old generation while streaming (and frees Node's read buffers on the fallback pipes): memory.ts.
  const garbage = new GarbageBudget(LIMITS.gcEveryBytes);
  let paused = false;
  let pipes: Readable[] = [];
  const throttle = (): void => {
    // Backpressure: a host that reads slowly slows the program down instead of growing our memory.
    if (paused || !sender.congested) return;
    paused = true;
    for (const pipe of pipes) pipe.pause();
    sender.onDrain(() => {
      paused = false;
      for (const pipe of pipes) pipe.resume();
    });
  };
  const reader = (capture: ByteCapture, lines: LineSplitter) => (chunk: Buffer) => {
    capture.push(chunk);
    lines.push(chunk);
    garbage.add(chunk.length);
    throttle();
  };
  const onStdout = reader(stdoutCapture, stdoutLines);
  const onStderr = reader(stderrCapture, stderrLines);
  pipes = outputPipes
    ? [outputPipes[0].start(onStdout), outputPipes[1].start(onStderr)]
    : [child.stdout?.on('data', onStdout), child.stderr?.on('data', onStderr)].filter((p) => p !== undefined);
  const pipesClosed = Promise.all(pipes.map((p) => new Promise<void>((resolve) => p.once('close', () => resolve()))));

  let timedOut = false;
  let setupError: Error | undefined;
  if (pid !== undefined) {
    try {
      cgroup?.add(pid);
    } catch (error) {
      setupError = error as Error;
      killTree();
    }
    const go = child.stdio[3] as Writable | null;
    go?.on('error', () => undefined);
    go?.end('\n');
    feedStdin(child, input.request.input);
  }
  const timer = setTimeout(() => {
    timedOut = true;
    killTree();
  }, limits.timeout_s * 1000);
  const onHostGone = (): void => killTree();
  hostGone.addEventListener('abort', onHostGone, { once: true });

  const outcome = await exited;
  clearTimeout(timer);
  hostGone.removeEventListener('abort', onHostGone);
  const durationMs = Number((process.hrtime.bigint() - started) / 1_000_000n);
  // Whatever the main process left behind (a `go run` grandchild, a daemon) dies with it.
  killTree();
  await Promise.race([pipesClosed, new Promise((resolve) => setTimeout(resolve, LIMITS.pipeDrainMs))]);
  for (const pipe of pipes) pipe.destroy();
  stdoutLines.end();
  stderrLines.end();
  garbage.settle();
  const stats = cgroup?.stats() ?? {};

  if (outcome instanceof Error) {
    return failureResponse('E_SPAWN', `cannot start ${input.command.file}: ${outcome.message}`);
  }
  if (setupError)
    return failureResponse('E_INTERNAL', `cannot place the workload in its cgroup: ${setupError.message}`);
  return {
    ...describeOutcome(outcome, { timedOut, stats, limits }),
    output: stdoutCapture.text(),
    log_lines: stderrCapture.lines(LIMITS.maxLineBytes),
    duration_ms: durationMs,
    truncated: stdoutCapture.truncated || stderrCapture.truncated || streamTruncated,
    stdout_bytes: stdoutCapture.total,
    stderr_bytes: stderrCapture.total,
    output_truncated: stdoutCapture.truncated,
    log_truncated: stderrCapture.truncated,
    stream_truncated: streamTruncated,
    ...(stats.cpuUsec === undefined ? {} : { cpu_ms: Math.round(stats.cpuUsec / 1000) }),
    ...(stats.memoryPeakBytes === undefined ? {} : { memory_peak_bytes: stats.memoryPeakBytes }),
    ...(stats.oomKills === undefined ? {} : { oom_killed: stats.oomKills > 0 }),
  };
}

function feedStdin(child: ChildProcess, input: Uint8Array | undefined): void {
  const stdin = child.stdin;
  if (!stdin) return;
  // A program that exits without reading its stdin makes this write fail with EPIPE: not an error of ours.
  stdin.on('error', () => undefined);
  if (input && input.byteLength > 0) stdin.end(input);
  else stdin.end();
}

interface OutcomeFacts {
  timedOut: boolean;
  stats: CgroupStats;
  limits: AppliedLimits;
}

type OutcomeFields = Pick<GuestResponse, 'exit_code' | 'error' | 'status' | 'error_code' | 'timed_out' | 'signal'>;

/**
 * Exit code, status word and error sentence for how the program ended. A limit
 * that was hit explains a failure best: a fork bomb is `pids_limit` and a memory
 * hog `oom` even when the timeout or a signal finished them.
 */
export function describeOutcome(outcome: Outcome, facts: OutcomeFacts): OutcomeFields {
  const { code, signal } = outcome;
  const { timedOut, stats, limits } = facts;
  const exitCode = timedOut ? TIMEOUT_EXIT_CODE : signal ? 128 + signalNumber(signal) : (code ?? 1);
  const base = { exit_code: exitCode, timed_out: timedOut, ...(signal ? { signal } : {}) };
  if (!timedOut && !signal && exitCode === 0) return { ...base, status: 'ok' };

  const cause = timedOut
    ? `timed out after ${limits.timeout_s}s`
    : signal
      ? `killed by signal ${signalNumber(signal)} (${signal})`
      : `exit status ${exitCode}`;
  if ((stats.pidsMaxHits ?? 0) > 0) {
    return {
      ...base,
      status: 'pids_limit',
      error_code: 'E_PIDS_LIMIT',
      error: `${cause}; the process limit (${limits.max_pids}) was reached`,
    };
  }
  if ((stats.oomKills ?? 0) > 0) {
    const error =
      signal === 'SIGKILL' && !timedOut ? 'killed by the OOM killer' : `${cause} after the OOM killer killed a process`;
    return { ...base, status: 'oom', error_code: 'E_OOM', error: `${error} (memory limit ${limits.memory_mb} MiB)` };
  }
  if (timedOut) return { ...base, status: 'timeout', error_code: 'E_TIMEOUT', error: cause };
  if (signal === 'SIGXFSZ') {
    return {
      ...base,
      status: 'signal',
      error_code: 'E_SIGNAL',
      error: `${cause}: file size limit of ${limits.max_file_bytes} bytes exceeded`,
    };
  }
  if (signal) return { ...base, status: 'signal', error_code: 'E_SIGNAL', error: cause };
  return { ...base, status: 'exit_nonzero', error_code: 'E_EXIT_NONZERO', error: cause };
}
