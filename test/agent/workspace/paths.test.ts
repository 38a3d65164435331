import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { checkLinkTarget, checkRelative, resolveInside } from '../../../agent/src/workspace/paths.js';

describe('checkRelative', () => {
  test.each([
    ['main.py', 'main.py'],
    ['./main.py', 'main.py'],
    ['a//b/', 'a/b'],
    ['cmd/app/main.go', 'cmd/app/main.go'],
  ])('%j is fine as %j', (name, clean) => {
    expect(checkRelative(name, 'entrypoint')).toBe(clean);
  });

  test.each(['', '/etc/passwd', '..', '../x', 'a/../../x', 'a/..', 'a\0b', '.', './'])('%j escapes', (name) => {
    expect(() => checkRelative(name, 'entrypoint')).toThrowError(expect.objectContaining({ code: 'E_PATH_ESCAPE' }));
  });
});

describe('checkLinkTarget', () => {
  test.each([
    ['a/link', '../b'],
    ['link', 'b/c'],
    ['a/b/link', '../../c'],
  ])('%s -> %s stays inside', (entry, target) => {
    expect(() => checkLinkTarget(entry, target, 'link')).not.toThrow();
  });

  test.each([
    ['link', '/etc'],
    ['link', '..'],
    ['a/link', '../../x'],
    ['link', ''],
  ])('%s -> %j escapes', (entry, target) => {
    expect(() => checkLinkTarget(entry, target, 'link')).toThrowError(
      expect.objectContaining({ code: 'E_PATH_ESCAPE' }),
    );
  });
});

describe('resolveInside', () => {
  test('follows symlinks and refuses those that lead out', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'paths-'));
    mkdirSync(path.join(root, 'd'));
    writeFileSync(path.join(root, 'd/f'), '');
    symlinkSync('d/f', path.join(root, 'in'));
    symlinkSync('/etc/hostname', path.join(root, 'out'));
    expect(resolveInside(root, 'in', 'entrypoint')).toBe(path.join(root, 'd/f'));
    expect(() => resolveInside(root, 'out', 'entrypoint')).toThrow(expect.objectContaining({ code: 'E_PATH_ESCAPE' }));
  });
});
