import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import type { ListenSpec } from '../options.js';
import { listenVsock } from './vsock.js';

/** A listening endpoint, whatever its transport. */
export interface Listener {
  readonly description: string;
  close(): void;
}

export function describeListen(spec: ListenSpec): string {
  switch (spec.kind) {
    case 'vsock':
      return `vsock:${spec.port}`;
    case 'unix':
      return `unix:${spec.path}`;
    case 'tcp':
      return `tcp:${spec.host}:${spec.port}`;
  }
}

function listenNet(server: net.Server, spec: Exclude<ListenSpec, { kind: 'vsock' }>): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (spec.kind === 'unix') server.listen(spec.path, done);
    else server.listen(spec.port, spec.host, done);
  });
}

/** Removes a stale socket file left by an earlier agent; refuses to delete anything else. */
function removeStaleSocket(file: string): void {
  try {
    if (lstatSync(file).isSocket()) unlinkSync(file);
  } catch {
    // Absent: nothing to remove.
  }
}

/** Starts accepting connections; each one is handed to `onConnection`. */
export async function listen(spec: ListenSpec, onConnection: (socket: net.Socket) => void): Promise<Listener> {
  const description = describeListen(spec);
  if (spec.kind === 'vsock') {
    const vsock = await listenVsock(spec.port, onConnection);
    return { description, close: () => vsock.close() };
  }
  const server = net.createServer({ allowHalfOpen: true }, onConnection);
  if (spec.kind === 'unix') removeStaleSocket(spec.path);
  await listenNet(server, spec);
  // WARNING: the socket is the agent's control channel: owner-only, out of a workload's reach.
  if (spec.kind === 'unix') chmodSync(spec.path, 0o600);
  return { description, close: () => server.close() };
}
