import { realpathSync } from 'node:fs';
import path from 'node:path';
import { VulcanError } from '@vulcan/shared';

/**
 * Path checks for everything a request names inside the work dir (entrypoints,
 * archive entries, link targets). Each is a small pure function; `workspace.ts`
 * and `archive.ts` combine them.
 */

function escapeError(what: string, name: string, why: string): VulcanError {
  return new VulcanError('E_PATH_ESCAPE', `${what} ${JSON.stringify(name)} ${why}`, { field: what });
}

/**
 * Checks that `name` is a relative path that stays inside its root, lexically:
 * not empty, no NUL, not absolute, no `..` segment. Returns it normalised
 * (no `./`, no duplicate or trailing slashes).
 */
export function checkRelative(name: string, what: string): string {
  if (name === '' || name.includes('\0')) throw escapeError(what, name, 'is empty or contains NUL');
  if (name.startsWith('/')) throw escapeError(what, name, 'is an absolute path');
  // WARNING: check segments of the raw name too; normalize() would fold "a/../../b" silently.
  if (name.split('/').includes('..')) throw escapeError(what, name, 'contains a ".." segment');
  const normalized = path.posix.normalize(name).replace(/\/+$/, '');
  if (normalized === '.' || normalized === '') throw escapeError(what, name, 'names the work directory itself');
  return normalized;
}

/** Checks that a symlink at `entry` pointing to `target` resolves inside the root, lexically. */
export function checkLinkTarget(entry: string, target: string, what: string): void {
  if (target === '' || target.includes('\0')) throw escapeError(what, target, 'is an empty or NUL link target');
  if (target.startsWith('/')) throw escapeError(what, target, 'is an absolute link target');
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(entry), target));
  if (resolved === '..' || resolved.startsWith('../'))
    throw escapeError(what, target, 'points outside the work directory');
}

/** Resolves `relative` under `root` through any symlinks and fails unless the result is still inside `root`. */
export function resolveInside(root: string, relative: string, what: string): string {
  const realRoot = realpathSync(root);
  const real = realpathSync(path.join(realRoot, relative));
  if (real !== realRoot && !real.startsWith(`${realRoot}/`)) {
    throw escapeError(what, relative, 'resolves outside the work directory');
  }
  return real;
}
