import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { agentCommand } from '../helpers/agent.js';

// The shipped program as a whole: flags, exit statuses, and vsock listening with the embedded addon.
const { file, args } = agentCommand();
const emptyDir = (): string => mkdtempSync(path.join(tmpdir(), 'vulcan-empty-'));
const hasVsock =
  spawnSync('python3', ['-c', 'import socket; socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)']).status === 0;

describe('vulcan-guest', () => {
  test('--version prints the project version and the Node it runs on', () => {
    const result = spawnSync(file, [...args, '--version'], { cwd: emptyDir(), encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^vulcan-guest \d+\.\d+\.\d+ \(node v\d+\.\d+\.\d+\)\n$/);
  });

  test.each([[['--bogus']], [['--listen', 'vsock:nope']], [['--work-dir', 'relative']]])(
    '%j: message and exit status 2',
    (argv) => {
      const result = spawnSync(file, [...args, ...argv], { cwd: emptyDir(), encoding: 'utf8' });
      expect(result.status).toBe(2);
      expect(result.stderr).toContain('usage: vulcan-guest');
    },
  );

  test.skipIf(!hasVsock)(
    'listens on AF_VSOCK from an empty directory (the addon is embedded or found, never missing)',
    async () => {
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const child = spawn(file, [...args, '--listen', `vsock:${port}`, '--work-dir', path.join(emptyDir(), 'w')], {
        cwd: emptyDir(),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      try {
        await expect
          .poll(() => stderr, { timeout: 10_000 })
          .toMatch(new RegExp(`ready: .* listening on vsock:${port}`));
      } finally {
        child.kill('SIGTERM');
      }
    },
  );
});
