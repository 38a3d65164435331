import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  decodeMessage,
  encodeFrame,
  encodeRequest,
  FrameDecoder,
  type GuestMessage,
  type GuestRequest,
  type GuestResponse,
  type LogMessage,
  runOnGuest,
} from '@vulcan/shared';
import { ROOT } from './paths.js';

/**
 * The agent under test: what ships is what is tested. The single-file binary
 * build/vulcan-guest when it exists (or VULCAN_AGENT_BIN), else the bundled
 * script build/vulcan-guest.cjs run by this Node.
 */
export function agentCommand(): { file: string; args: string[] } {
  const bin = process.env.VULCAN_AGENT_BIN ?? path.join(ROOT, 'build/vulcan-guest');
  if (existsSync(bin)) return { file: bin, args: [] };
  const script = path.join(ROOT, 'build/vulcan-guest.cjs');
  if (!existsSync(script)) throw new Error('build the agent first: make agent');
  const { execArgv } = JSON.parse(readFileSync(path.join(ROOT, 'agent/node-options.json'), 'utf8')) as {
    execArgv: string[];
  };
  return { file: process.execPath, args: [...execArgv, script] };
}

export const IS_ROOT = process.getuid?.() === 0;

/** A Go build cache that survives test runs (a cold cache costs a full standard-library build). */
export function testGoCache(): string {
  const dir = path.join(tmpdir(), 'vulcan-test-go-cache');
  mkdirSync(dir, { recursive: true });
  if (IS_ROOT) chownSync(dir, 65534, 65534);
  return dir;
}

export interface RunResult {
  response: GuestResponse;
  logs: LogMessage[];
}

/** A running agent on a unix socket with its own temp work dir. */
export class TestAgent {
  readonly dir: string;
  readonly socketPath: string;
  readonly workDir: string;
  #child: ChildProcess | undefined;
  #stderr = '';

  /**
   * @param extraArgs agent flags beyond --listen/--work-dir/--go-cache
   * @param options.wrap command the agent is started under (e.g. unshare for PID 1 tests)
   * @param options.baseDir where the temp dir goes (PID 1 mounts a tmpfs over /tmp)
   * @param options.env variables added to the agent's environment
   */
  constructor(
    private readonly extraArgs: string[] = [],
    private readonly options: { wrap?: string[]; baseDir?: string; env?: Record<string, string> } = {},
  ) {
    this.dir = mkdtempSync(path.join(options.baseDir ?? tmpdir(), 'vulcan-agent-'));
    // The workload user (nobody) must be able to reach the work dir through its parent.
    chmodSync(this.dir, 0o755);
    this.socketPath = path.join(this.dir, 'agent.sock');
    this.workDir = path.join(this.dir, 'work');
  }

  get pid(): number {
    return this.#child?.pid ?? -1;
  }

  /** Pids of the started process's children (the agent itself, under a wrapper). */
  children(): number[] {
    try {
      return readFileSync(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Resolves with the exit code once the started process has exited. */
  exited(): Promise<number | null> {
    const child = this.#child;
    if (!child || !this.alive()) return Promise.resolve(child?.exitCode ?? null);
    return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Sends a signal to the started process. */
  signal(name: NodeJS.Signals): void {
    this.#child?.kill(name);
  }

  get log(): string {
    return this.#stderr;
  }

  async start(): Promise<this> {
    const { file, args } = agentCommand();
    const wrap = this.options.wrap ?? [];
    const child = spawn(
      wrap[0] ?? file,
      [
        ...wrap.slice(1),
        ...(wrap.length > 0 ? [file] : []),
        ...args,
        '--listen',
        `unix:${this.socketPath}`,
        '--work-dir',
        this.workDir,
        '--go-cache',
        testGoCache(),
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...this.options.env } },
    );
    this.#child = child;
    child.stderr?.on('data', (d: Buffer) => {
      this.#stderr += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const onData = (): void => {
        if (this.#stderr.includes('ready:')) {
          child.stderr?.off('data', onData);
          resolve();
        }
      };
      child.stderr?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`agent exited (${code}) before ready:\n${this.#stderr}`)));
    });
    return this;
  }

  /** Runs a request through the shared host client. */
  async run(
    request: Partial<GuestRequest> & Pick<GuestRequest, 'runtime'>,
    onLog?: (l: LogMessage) => void,
  ): Promise<RunResult> {
    const logs: LogMessage[] = [];
    const response = await runOnGuest(
      { code: '', timeout_s: 20, ...request },
      {
        path: this.socketPath,
        transport: 'unix',
        onLog: (l) => {
          logs.push(l);
          onLog?.(l);
        },
      },
    );
    return { response, logs };
  }

  /**
   * Sends raw bytes and reads frames until the agent closes: for malformed input
   * and frame-size checks. Keeps every message up to `keep`, then only counts.
   */
  raw(
    bytes: Buffer,
    options: { halfClose?: boolean; keep?: number } = {},
  ): Promise<{ count: number; maxFrameBytes: number; messages: GuestMessage[]; last: GuestMessage | undefined }> {
    const keep = options.keep ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(this.socketPath);
      const decoder = new FrameDecoder(Number.MAX_SAFE_INTEGER);
      const messages: GuestMessage[] = [];
      let count = 0;
      let maxFrameBytes = 0;
      let last: GuestMessage | undefined;
      socket.on('connect', () => {
        socket.write(bytes);
        if (options.halfClose) socket.end();
      });
      socket.on('data', (chunk) => {
        for (const frame of decoder.push(chunk)) {
          count++;
          maxFrameBytes = Math.max(maxFrameBytes, frame.length);
          last = decodeMessage(frame);
          if (messages.length < keep) messages.push(last);
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve({ count, maxFrameBytes, messages, last }));
    });
  }

  /** The framed bytes of a request. */
  static frame(request: GuestRequest): Buffer {
    return encodeFrame(encodeRequest(request));
  }

  /** Current and peak resident memory of the agent, in KiB. */
  memoryKiB(): { rss: number; peak: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    return { rss: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]), peak: Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1]) };
  }

  alive(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child && this.alive()) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** True while a process exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
