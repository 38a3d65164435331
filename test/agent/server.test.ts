import net from 'node:net';
import {
  decodeMessage,
  dialGuest,
  exchange,
  FrameDecoder,
  type GuestMessage,
  type GuestResponse,
  type LogMessage,
} from '@vulcan/shared';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { processAlive, TestAgent } from '../helpers/agent.js';

// Integration: connections, framing failures and concurrency against the built agent.
let agent: TestAgent;
beforeAll(async () => {
  agent = await new TestAgent(['--quiet']).start();
});
afterAll(async () => {
  await agent?.stop();
});

const header = (length: number): Buffer => {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(length);
  return buf;
};

function onlyResult(messages: { type: string }[]): GuestResponse {
  expect(messages).toHaveLength(1);
  const [message] = messages as [{ type: 'result'; response: GuestResponse }];
  expect(message.type).toBe('result');
  return message.response;
}

describe('malformed frames are answered with a result, never a silent close', () => {
  test.each([
    ['an oversize header', header(16 * 1024 * 1024 + 1), 'E_FRAME_TOO_LARGE'],
    ['bad JSON', Buffer.concat([header(9), Buffer.from('{"runtime')]), 'E_BAD_JSON'],
    ['a JSON array', Buffer.concat([header(2), Buffer.from('[]')]), 'E_BAD_REQUEST'],
    [
      'a wrong type',
      Buffer.concat([header(29), Buffer.from('{"runtime":"go","timeout_s":"5"}').subarray(0, 29)]),
      'E_BAD_JSON',
    ],
  ])('%s', async (_name, bytes, code) => {
    const { messages } = await agent.raw(bytes);
    expect(onlyResult(messages)).toMatchObject({ exit_code: 1, status: 'bad_request', error_code: code });
  });

  test('wrong field types name the field', async () => {
    const json = Buffer.from('{"runtime":"python","code":"print(1)","timeout_s":"5"}');
    const { messages } = await agent.raw(Buffer.concat([header(json.length), json]));
    const response = onlyResult(messages);
    expect(response).toMatchObject({ exit_code: 1, status: 'bad_request', error_code: 'E_BAD_REQUEST' });
    expect(response.error).toContain('timeout_s');
  });

  test('an unsupported runtime lists the supported ones', async () => {
    const json = Buffer.from('{"runtime":"ruby","code":"puts 1"}');
    const response = onlyResult((await agent.raw(Buffer.concat([header(json.length), json]))).messages);
    expect(response.error).toContain('go, node, python');
  });

  test('a host that half-closes in the middle of a frame gets E_FRAME_TRUNCATED', async () => {
    const { messages } = await agent.raw(Buffer.concat([header(100), Buffer.from('{"runtime":')]), { halfClose: true });
    expect(onlyResult(messages)).toMatchObject({ error_code: 'E_FRAME_TRUNCATED', status: 'bad_request' });
  });

  test('a host that half-closes before sending anything gets E_CONNECTION_CLOSED', async () => {
    const { messages } = await agent.raw(Buffer.alloc(0), { halfClose: true });
    expect(onlyResult(messages)).toMatchObject({ error_code: 'E_CONNECTION_CLOSED' });
  });

  test('a request split into single bytes is still read', async () => {
    const frame = TestAgent.frame({ runtime: 'python', code: 'print("slow host")', timeout_s: 10 });
    const messages = await new Promise<GuestMessage[]>((resolve, reject) => {
      const socket = net.createConnection(agent.socketPath);
      const decoder = new FrameDecoder();
      const out: GuestMessage[] = [];
      let i = 0;
      const drip = (): void => {
        if (i >= frame.length) return;
        socket.write(frame.subarray(i, ++i));
        setImmediate(drip);
      };
      socket.on('connect', drip);
      socket.on('data', (chunk) => out.push(...decoder.push(chunk).map((f) => decodeMessage(f))));
      socket.on('error', reject);
      socket.on('close', () => resolve(out));
    });
    expect(messages.map((m) => m.type)).toEqual(['log', 'result']);
    expect(messages[1]).toMatchObject({ response: { output: 'slow host\n', status: 'ok' } });
  });
});

describe('hosts that leave', () => {
  test('a host disconnecting mid-run gets its workload killed, and the agent serves the next one', async () => {
    const connection = await dialGuest({ path: agent.socketPath, transport: 'unix' });
    const pid = await new Promise<number>((resolve) => {
      exchange(
        connection,
        {
          runtime: 'python',
          code: 'import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(1000)\n',
          timeout_s: 600,
        },
        {
          onLog: (log: LogMessage) => {
            resolve(Number(log.line));
            connection.socket.destroy();
          },
        },
      ).catch(() => undefined);
    });
    await expect.poll(() => processAlive(pid), { timeout: 5000 }).toBe(false);
    const { response } = await agent.run({ runtime: 'python', code: 'print("next")' });
    expect(response.output).toBe('next\n');
  });

  test('connections that close without a word cost nothing', async () => {
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve) => {
        const socket = net.createConnection(agent.socketPath, () => socket.destroy());
        socket.on('close', () => resolve());
      });
    }
    const { response } = await agent.run({ runtime: 'python', code: 'print("ok")' });
    expect(response.output).toBe('ok\n');
  });
});

describe('concurrent connections', () => {
  test('each host receives only its own workload’s lines', async () => {
    const runs = await Promise.all(
      [0, 1, 2, 3].map((n) =>
        agent.run({
          runtime: 'python',
          code: `import time\nfor i in range(5):\n    print("w${n}", i, flush=True)\n    time.sleep(0.02)\n`,
        }),
      ),
    );
    runs.forEach(({ response, logs }, n) => {
      expect(logs.map((l) => l.line)).toEqual([0, 1, 2, 3, 4].map((i) => `w${n} ${i}`));
      expect(response.status).toBe('ok');
    });
  });

  test('a host that stops reading does not freeze the agent: timeouts fire and others are served', async () => {
    // A chatty workload whose host never reads: the agent must not block on it.
    const stuck = net.createConnection(agent.socketPath);
    await new Promise((resolve) => stuck.once('connect', resolve));
    stuck.pause();
    stuck.write(
      TestAgent.frame({
        runtime: 'python',
        code: 'import os\nprint(os.getpid(), flush=True)\nwhile True: print("y" * 1000)\n',
        timeout_s: 2,
      }),
    );
    // Served once the stuck workload has timed out (one workload at a time), while the stuck host still holds its socket.
    const { response } = await agent.run({ runtime: 'python', code: 'print("served")', timeout_s: 10 });
    expect(response.output).toBe('served\n');
    expect(agent.alive()).toBe(true);
    stuck.destroy();
  });
});
