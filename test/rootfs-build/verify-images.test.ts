import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { ROOT } from '../helpers/paths.js';

// rootfs-build/verify-images.sh on small images made in the test: it must pass a complete
// image and fail, naming what is missing, on each broken one.
const SCRIPT = path.join(ROOT, 'rootfs-build/verify-images.sh');
const hasTools = ['mkfs.ext4', 'debugfs'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);

type Breakage = 'none' | 'no-agent' | 'agent-not-executable' | 'no-work' | 'no-user' | 'no-runtime';

function makeImage(runtime: 'python' | 'node' | 'go', breakage: Breakage): string {
  const base = mkdtempSync(path.join(tmpdir(), 'verify-'));
  const root = path.join(base, 'root');
  const file = (p: string, mode = 0o755): void => {
    mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    writeFileSync(path.join(root, p), '#!/bin/sh\n');
    chmodSync(path.join(root, p), mode);
  };
  if (breakage !== 'no-agent') file('usr/local/bin/vulcan-guest', breakage === 'agent-not-executable' ? 0o644 : 0o755);
  file('usr/sbin/init');
  symlinkSync('usr/sbin', path.join(root, 'sbin'));
  if (breakage !== 'no-work') mkdirSync(path.join(root, 'work'));
  mkdirSync(path.join(root, 'etc'));
  writeFileSync(
    path.join(root, 'etc/passwd'),
    `root:x:0:0:root:/root:/bin/sh\n${breakage === 'no-user' ? '' : 'vulcan:x:1000:1000::/nonexistent:/usr/sbin/nologin\n'}`,
  );
  if (breakage !== 'no-runtime') {
    if (runtime === 'python') {
      file('usr/bin/python3.13');
      symlinkSync('python3.13', path.join(root, 'usr/bin/python3'));
    } else if (runtime === 'node') {
      file('usr/local/bin/node');
    } else {
      file('usr/lib/go-1.24/bin/go');
      mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
      symlinkSync('../lib/go-1.24/bin/go', path.join(root, 'usr/bin/go'));
      mkdirSync(path.join(root, 'var/cache/vulcan/go-build'), { recursive: true });
    }
  }
  const image = path.join(base, `${runtime}.ext4`);
  execFileSync('truncate', ['-s', '8M', image]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', '-d', root, image]);
  return image;
}

function verify(image: string): { status: number | null; output: string } {
  const result = spawnSync('bash', [SCRIPT, image], { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

describe.skipIf(!hasTools)('verify-images.sh', () => {
  test.each(['python', 'node', 'go'] as const)('passes a complete %s image, following symlinks', (runtime) => {
    const { status, output } = verify(makeImage(runtime, 'none'));
    expect(output).toContain('all images verified');
    expect(status).toBe(0);
  });

  test.each([
    ['no-agent', '/usr/local/bin/vulcan-guest'],
    ['agent-not-executable', '/usr/local/bin/vulcan-guest'],
    ['no-work', '/work'],
    ['no-user', 'no user vulcan'],
    ['no-runtime', '/usr/bin/python3'],
  ] as const)('fails an image with %s, naming it', (breakage, named) => {
    const { status, output } = verify(makeImage('python', breakage));
    expect(status).not.toBe(0);
    expect(output).toMatch(new RegExp(`FAIL .*${named.replace(/[/.]/g, '\\$&')}`));
  });
});
