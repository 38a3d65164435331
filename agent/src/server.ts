import type net from 'node:net';
import {
  type AgentRequest,
  decodeAgentRequest,
  FrameDecoder,
  type GuestResponse,
  MAX_FRAME_BYTES,
  VulcanError,
} from '@vulcan/shared';
import { log } from './log.js';
import { LIMITS } from './options.js';
import { availableRuntimes } from './run/runtimes.js';
import type { RunContext } from './run/workload.js';
import { failureFrom, failureResponse, runWorkload } from './run/workload.js';
import { FrameSender } from './sender.js';
import { Slot } from './slot.js';
import { AGENT_VERSION } from './version.js';

/**
 * One connection, one workload (PROTOCOL.md §1): read one request frame, wait
 * for the workload slot, run, stream, answer with exactly one result frame.
 * Every failure a host can cause ends as a result frame, never as a crash.
 */
export class Server {
  readonly #slot = new Slot();
  readonly #live = new Set<AbortController>();
  #connections = 0;

  constructor(private readonly context: RunContext) {}

  /** Number of connections being served or waiting. */
  get active(): number {
    return this.#live.size;
  }

  handle(socket: net.Socket): void {
    const id = ++this.#connections;
    this.#serve(socket, id).catch((error: unknown) => {
      // Defence in depth: a bug here must cost one connection, never the agent.
      log('error', `connection ${id}: ${(error as Error)?.stack ?? String(error)}`);
      socket.destroy();
    });
  }

  /** Kills running workloads and drops waiting connections (shutdown). */
  abortAll(): void {
    for (const controller of this.#live) controller.abort(new VulcanError('E_SHUTDOWN', 'agent shutting down'));
  }

  async #serve(socket: net.Socket, id: number): Promise<void> {
    socket.on('error', (error) => log('info', `connection ${id}: ${error.message}`));
    const sender = new FrameSender(socket, LIMITS.sendHighWater);
    const hostGone = new AbortController();
    this.#live.add(hostGone);
    try {
      let request: AgentRequest;
      try {
        request = await readRequest(socket);
      } catch (error) {
        log('warn', `connection ${id}: ${(error as Error).message}`);
        // A half-closed host can still read its answer; a vanished one cannot.
        if (sender.closed) socket.destroy();
        else await this.#answer(sender, failureFrom(error));
        return;
      }
      if ('type' in request) {
        // A health check: answered at once, without waiting for the workload slot.
        await this.#answer(sender, ping());
        return;
      }
      // The host is gone when its side closes: the Go host never half-closes mid-run.
      const gone = (): void => hostGone.abort(new VulcanError('E_HOST_GONE', 'host disconnected'));
      socket.once('end', gone);
      socket.once('close', gone);
      socket.resume(); // Keep reading (and discarding) so that a close is seen at once.

      const release = await this.#slot.acquire();
      try {
        if (hostGone.signal.aborted) return;
        log(
          'info',
          `connection ${id}: ${request.runtime} run, timeout ${request.timeout_s || this.context.defaultTimeoutS}s`,
        );
        const response = await runWorkload(request, this.context, sender, hostGone.signal);
        if (hostGone.signal.aborted) {
          const reason = hostGone.signal.reason as Error;
          log('warn', `connection ${id}: ${reason.message}; workload killed after ${response.duration_ms ?? 0} ms`);
          return;
        }
        log('info', `connection ${id}: ${response.status ?? 'done'} in ${response.duration_ms ?? 0} ms`);
        // The slot is released before the result is delivered: a host slow to read it delays no one.
        release();
        await this.#answer(sender, response);
      } finally {
        release();
      }
    } finally {
      this.#live.delete(hostGone);
    }
  }

  async #answer(sender: FrameSender, response: GuestResponse): Promise<void> {
    try {
      sender.send({ type: 'result', response });
    } catch (error) {
      // Cannot happen with the documented caps; if it does, the host still gets a valid result.
      sender.send({
        type: 'result',
        response: {
          ...failureResponse('E_INTERNAL', `result too large to send: ${(error as Error).message}`),
          exit_code: response.exit_code || 1,
          truncated: true,
        },
      });
    }
    const outcome = await sender.finish(LIMITS.resultSendTimeoutMs);
    if (outcome === 'timeout') log('warn', 'host did not read its result in time; connection dropped');
  }
}

/** The answer to a ping: version, uptime, and the runtimes this image really has. */
function ping(): GuestResponse {
  return {
    exit_code: 0,
    output: '',
    status: 'ok',
    agent_version: AGENT_VERSION,
    node_version: process.version,
    uptime_ms: Math.round(process.uptime() * 1000),
    runtimes: availableRuntimes(),
  };
}

/**
 * Reads exactly one request frame. Rejects with E_FRAME_TOO_LARGE (from the
 * header alone), E_FRAME_TRUNCATED, E_BAD_JSON, E_BAD_REQUEST, or
 * E_CONNECTION_CLOSED when the host leaves without sending anything.
 */
export function readRequest(socket: net.Socket): Promise<AgentRequest> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder(MAX_FRAME_BYTES);
    const timer = setTimeout(
      () => settle(new VulcanError('E_BAD_REQUEST', `no request received within ${LIMITS.requestTimeoutMs / 1000}s`)),
      LIMITS.requestTimeoutMs,
    );
    const settle = (result: AgentRequest | Error): void => {
      clearTimeout(timer);
      socket.off('data', onData).off('end', onEnd).off('close', onClose);
      socket.pause();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      try {
        const frame = decoder.push(chunk)[0];
        if (frame !== undefined) settle(decodeAgentRequest(frame));
      } catch (error) {
        settle(error as Error);
      }
    };
    const onEnd = (): void => {
      try {
        decoder.end();
        settle(new VulcanError('E_CONNECTION_CLOSED', 'connection closed before a request arrived'));
      } catch (error) {
        settle(error as Error);
      }
    };
    const onClose = (): void =>
      settle(new VulcanError('E_CONNECTION_CLOSED', 'connection closed before a request arrived'));
    socket.on('data', onData).on('end', onEnd).on('close', onClose);
  });
}
