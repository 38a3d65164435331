import { type SpawnSyncReturns, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { FakeGuest } from '../../helpers/fake-guest.js';
import { buildProjects, ROOT } from '../../helpers/paths.js';

const CLI = path.join(ROOT, 'shared/dist/cli/vulcan-run.js');

function run(args: string[], input = ''): Promise<Pick<SpawnSyncReturns<string>, 'status' | 'stdout' | 'stderr'>> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

let guest: FakeGuest | undefined;
beforeAll(() => buildProjects(), 120_000);
afterEach(async () => {
  await guest?.stop();
  guest = undefined;
});

describe('vulcan-run', () => {
  test('prints streamed lines per stream and exits with the workload exit code', async () => {
    guest = await new FakeGuest({
      handshake: true,
      serve: (request, _socket, send) => {
        send({ type: 'log', line: `stdin=${Buffer.from(request.input ?? []).toString()}`, stream: 'stdout' });
        send({ type: 'log', line: `env=${request.env?.GREETING}`, stream: 'stderr' });
        send({ type: 'result', response: { exit_code: 7, output: '', error: 'exit status 7' } });
      },
    }).start();
    const file = path.join(guest.dir, 'main.py');
    writeFileSync(file, 'print(1)\n');
    const result = await run(
      [
        '--uds',
        guest.path,
        '--runtime',
        'python',
        '--file',
        file,
        '--input',
        '-',
        '--env',
        'GREETING=hi',
        '--timeout',
        '9',
      ],
      'abc',
    );
    expect(result.stdout).toBe('stdin=abc\n');
    expect(result.stderr).toContain('env=hi\n');
    expect(result.stderr).toContain('exit status 7');
    expect(result.status).toBe(7);
    expect(guest.requests[0]).toMatchObject({
      runtime: 'python',
      code: 'print(1)\n',
      entrypoint: 'main.py',
      timeout_s: 9,
    });
  });

  test('--raw talks to a plain unix socket', async () => {
    guest = await new FakeGuest({
      handshake: false,
      serve: (_r, _s, send) => send({ type: 'result', response: { exit_code: 0, output: 'ok' } }),
    }).start();
    const file = path.join(guest.dir, 'index.js');
    writeFileSync(file, '');
    const result = await run(['--uds', guest.path, '--raw', '--runtime', 'node', '--file', file, '--json']);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ exit_code: 0, output: 'ok' });
  });

  test.each([
    [['--runtime', 'python', '--file', 'x'], '--uds is required'],
    [['--uds', 's', '--runtime', 'ruby', '--file', 'x'], '--runtime must be one of'],
    [['--uds', 's', '--runtime', 'go'], 'exactly one of --file and --archive'],
    [['--uds', 's', '--runtime', 'go', '--file', 'x', '--bogus'], "Unknown option '--bogus'"],
    [['--uds', 's', '--runtime', 'go', '--file', 'x', '--timeout', '1.5'], '--timeout expects an integer'],
  ])('bad usage %j exits 2 with a message', async (args, message) => {
    const result = await run(args);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
  });

  test('an unreachable guest is a clear error and exit 1', async () => {
    const result = await run([
      '--uds',
      '/nonexistent/v.sock',
      '--runtime',
      'go',
      '--file',
      '/dev/null',
      '--attempts',
      '2',
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('E_GUEST_UNREACHABLE');
  });
});
