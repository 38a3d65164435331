import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { extractArchive, inspectArchive } from '../../../agent/src/workspace/archive.js';
import { TestAgent } from '../../helpers/agent.js';
import { makeTarGz, type TarEntry } from '../../helpers/tarball.js';

let dir: string;
let outside: string;
beforeEach(() => {
  const base = mkdtempSync(path.join(tmpdir(), 'archive-'));
  dir = path.join(base, 'work');
  outside = path.join(base, 'outside');
  mkdirSync(dir);
});
afterEach(() => rmSync(path.dirname(dir), { recursive: true, force: true }));

const marker = (name: string): TarEntry => ({
  path: name,
  data: 'import pathlib; pathlib.Path("RAN").write_text("x")\n',
});

describe('safe archives extract completely', () => {
  test('files, directories, relative symlinks inside and hard links to earlier files', async () => {
    const archive = makeTarGz([
      { path: 'pkg/', type: 'Directory' },
      { path: 'pkg/a.py', data: 'A' },
      { path: 'link.py', type: 'SymbolicLink', linkpath: 'pkg/a.py' },
      { path: 'hard.py', type: 'Link', linkpath: 'pkg/a.py' },
      { path: './dot/b.txt', data: 'B' },
    ]);
    expect(await extractArchive(archive, dir)).toBe(5);
    expect(readFileSync(path.join(dir, 'pkg/a.py'), 'utf8')).toBe('A');
    expect(readlinkSync(path.join(dir, 'link.py'))).toBe('pkg/a.py');
    expect(readFileSync(path.join(dir, 'hard.py'), 'utf8')).toBe('A');
    expect(readFileSync(path.join(dir, 'dot/b.txt'), 'utf8')).toBe('B');
  });
});

// Each hostile archive is built in code; every one is refused as a whole, naming the entry, with nothing written.
describe.each([
  [
    'zip-slip with ..',
    [marker('main.py'), { path: '../outside/evil.py', data: 'x' }],
    'E_ARCHIVE_UNSAFE_ENTRY',
    '../outside/evil.py',
  ],
  [
    'a nested .. segment',
    [marker('main.py'), { path: 'a/../../outside/evil.py', data: 'x' }],
    'E_ARCHIVE_UNSAFE_ENTRY',
    'a/../../outside/evil.py',
  ],
  [
    'an absolute path',
    [marker('main.py'), { path: '/tmp/vulcan-evil.py', data: 'x' }],
    'E_ARCHIVE_UNSAFE_ENTRY',
    '/tmp/vulcan-evil.py',
  ],
  [
    'a symlink to an absolute path',
    [marker('main.py'), { path: 'etc', type: 'SymbolicLink', linkpath: '/etc' }],
    'E_ARCHIVE_UNSAFE_ENTRY',
    'etc',
  ],
  [
    'a symlink climbing out',
    [marker('main.py'), { path: 'up', type: 'SymbolicLink', linkpath: '../../outside' }],
    'E_ARCHIVE_UNSAFE_ENTRY',
    'up',
  ],
  [
    'a write through an earlier symlink',
    [
      { path: 'd', type: 'Directory' },
      { path: 'ln', type: 'SymbolicLink', linkpath: 'd' },
      { path: 'ln/x.py', data: 'x' },
      marker('main.py'),
    ],
    'E_ARCHIVE_UNSAFE_ENTRY',
    'ln/x.py',
  ],
  [
    'a hard link to a host file',
    [marker('main.py'), { path: 'passwd', type: 'Link', linkpath: '/etc/passwd' }],
    'E_ARCHIVE_UNSAFE_ENTRY',
    'passwd',
  ],
  [
    'a hard link climbing out',
    [marker('main.py'), { path: 'h', type: 'Link', linkpath: '../outside/x' }],
    'E_ARCHIVE_UNSAFE_ENTRY',
    'h',
  ],
  [
    'a character device',
    [marker('main.py'), { path: 'null', type: 'CharacterDevice' }],
    'E_ARCHIVE_UNSAFE_ENTRY',
    'null',
  ],
  ['a block device', [marker('main.py'), { path: 'sda', type: 'BlockDevice' }], 'E_ARCHIVE_UNSAFE_ENTRY', 'sda'],
  ['a FIFO', [marker('main.py'), { path: 'fifo', type: 'FIFO' }], 'E_ARCHIVE_UNSAFE_ENTRY', 'fifo'],
  [
    'a declared size past the cap (tar bomb)',
    [marker('main.py'), { path: 'big', data: 'x', size: 300 * 1024 * 1024 }],
    'E_ARCHIVE_TOO_LARGE',
    undefined,
  ],
] as [string, TarEntry[], string, string | undefined][])('refuses %s', (_name, entries, code, entry) => {
  test('as a whole, naming the entry, before writing anything', async () => {
    const archive = makeTarGz(entries);
    const error = await extractArchive(archive, dir).catch((e: unknown) => e);
    expect(error).toMatchObject({ code });
    if (entry) expect((error as Error).message).toContain(JSON.stringify(entry));
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(outside)).toBe(false);
    expect(existsSync('/tmp/vulcan-evil.py')).toBe(false);
  });
});

describe('node-tar’s own refusals (defence in depth)', () => {
  test('a symlink whose target runs through another symlink is refused and nothing is left', async () => {
    const archive = makeTarGz([
      { path: 'pkg/a.py', data: 'A' },
      { path: 'link.py', type: 'SymbolicLink', linkpath: 'pkg/a.py' },
      { path: 'pkg/up.py', type: 'SymbolicLink', linkpath: '../link.py' },
    ]);
    const error = await extractArchive(archive, dir).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_ARCHIVE_UNSAFE_ENTRY' });
    expect((error as Error).message).toContain('"pkg/up.py"');
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('caps and garbage', () => {
  test('too many entries is E_ARCHIVE_TOO_LARGE', async () => {
    const entries = Array.from({ length: 21 }, (_, i) => ({ path: `f${i}`, data: '' }));
    await expect(inspectArchive(makeTarGz(entries), { maxBytes: 1e9, maxEntries: 20 })).rejects.toMatchObject({
      code: 'E_ARCHIVE_TOO_LARGE',
    });
  });

  test('total bytes past the cap is E_ARCHIVE_TOO_LARGE', async () => {
    const entries = [
      { path: 'a', data: 'x'.repeat(600) },
      { path: 'b', data: 'x'.repeat(600) },
    ];
    await expect(inspectArchive(makeTarGz(entries), { maxBytes: 1000, maxEntries: 10 })).rejects.toMatchObject({
      code: 'E_ARCHIVE_TOO_LARGE',
    });
  });

  test.each([
    ['not gzip', Buffer.from('plain text')],
    ['gzip of garbage', gzipSync(Buffer.from('x'.repeat(1000)))],
    ['a truncated archive', makeTarGz([{ path: 'a', data: 'x'.repeat(5000) }]).subarray(0, 40)],
  ])('%s is E_ARCHIVE_INVALID', async (_name, bytes) => {
    await expect(extractArchive(bytes, dir)).rejects.toMatchObject({ code: 'E_ARCHIVE_INVALID' });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('through the agent: nothing of a refused archive runs', () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await new TestAgent(['--quiet']).start();
  });
  afterAll(async () => {
    await agent?.stop();
  });

  test('an archive with one bad entry among good ones', async () => {
    const archive = makeTarGz([marker('main.py'), { path: '../escape.py', data: 'x' }]);
    const { response, logs } = await agent.run({ runtime: 'python', code_archive: archive });
    expect(response).toMatchObject({ exit_code: 1, status: 'bad_request', error_code: 'E_ARCHIVE_UNSAFE_ENTRY' });
    expect(response.error).toContain('"../escape.py"');
    expect(logs).toEqual([]);
    expect(existsSync(path.join(agent.workDir, 'RAN'))).toBe(false);
    expect(existsSync(path.join(agent.dir, 'escape.py'))).toBe(false);
  });

  test('an entrypoint that is a symlink out of the work dir is refused', async () => {
    // The symlink itself stays inside lexically; where it points is checked when resolving the entrypoint.
    const archive = makeTarGz([{ path: 'main.py', type: 'SymbolicLink', linkpath: 'sub/../../../etc/hostname' }]);
    const { response } = await agent.run({ runtime: 'python', code_archive: archive });
    expect(response).toMatchObject({ exit_code: 1, status: 'bad_request' });
    expect(['E_ARCHIVE_UNSAFE_ENTRY', 'E_PATH_ESCAPE']).toContain(response.error_code);
  });

  test('code written over an archive symlink named like the entrypoint is refused', async () => {
    const archive = makeTarGz([
      { path: 'real.py', data: 'print("real")' },
      { path: 'main.py', type: 'SymbolicLink', linkpath: 'real.py' },
    ]);
    const { response } = await agent.run({ runtime: 'python', code_archive: archive, code: 'print("overwrite")' });
    expect(response).toMatchObject({ exit_code: 1, error_code: 'E_PATH_ESCAPE' });
    expect(lstatSync(path.join(agent.workDir, 'main.py')).isSymbolicLink()).toBe(true);
  });
});
