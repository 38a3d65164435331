import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_ENTRYPOINTS, type GuestRequest, VulcanError } from '@vulcan/shared';
import type { Identity } from '../run/identity.js';
import { checkRelative, resolveInside } from './paths.js';

/**
 * The work dir a workload runs in: emptied before each run, filled from the
 * request (a source file, an archive, or both), owned by the workload's user.
 */

/*
 * File system calls on a request's path are synchronous: each takes microseconds on the VM's
 * disk, where a trip through libuv's thread pool costs 0.1–0.2 ms, and a run made a dozen of
 * them in sequence before it could spawn. Only what can take long runs off the event loop:
 * removing directory trees a workload left, and extracting archives.
 */

/** Removes `dir` if it is empty (the common case: last run's TMPDIR); false if it is not. */
function removeEmptyDir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTEMPTY') return false;
    throw error;
  }
}

/** Empties `dir` (creating it if needed) and hands it to `owner`, mode 0700. The dir itself may be a mount point. */
export async function resetDir(dir: string, owner: Identity | null): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (!lstatSync(dir).isDirectory()) {
    throw new VulcanError('E_WORKSPACE', `${dir} is not a directory`);
  }
  const trees: Promise<void>[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const target = path.join(dir, entry.name);
    if (!entry.isDirectory()) unlinkSync(target);
    else if (!removeEmptyDir(target)) trees.push(rm(target, { recursive: true, force: true }));
  }
  await Promise.all(trees);
  if (owner) chownSync(dir, owner.uid, owner.gid);
  chmodSync(dir, 0o700);
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The original agent's heuristic: a `code` that is base64 of gzip bytes is a tar.gz archive. */
export function legacyArchive(code: string): Buffer | undefined {
  const text = code.trim();
  if (text.length < 4 || !STRICT_BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes[0] === 0x1f && bytes[1] === 0x8b ? bytes : undefined;
}

/** Writes `content` to `relative` under `root` without following a symlink at the destination. */
function writeCodeFile(root: string, relative: string, content: string, owner: Identity | null): void {
  const parent = path.posix.dirname(relative);
  if (parent !== '.') {
    mkdirSync(path.join(root, parent), { recursive: true });
    resolveInside(root, parent, 'entrypoint');
    if (owner) {
      for (let dir = parent; dir !== '.'; dir = path.posix.dirname(dir)) {
        chownSync(path.join(root, dir), owner.uid, owner.gid);
      }
    }
  }
  // WARNING: O_NOFOLLOW, so an archive's symlink named like the entrypoint cannot redirect this write.
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  let fd: number;
  try {
    fd = openSync(path.join(root, relative), flags, 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new VulcanError('E_PATH_ESCAPE', `entrypoint ${JSON.stringify(relative)} is a symlink`, {
        field: 'entrypoint',
      });
    }
    throw error;
  }
  try {
    writeFileSync(fd, content, 'utf8');
    if (owner) fchownSync(fd, owner.uid, owner.gid);
  } finally {
    closeSync(fd);
  }
}

export interface Materialised {
  /** Entrypoint relative to the work dir, normalised. */
  readonly entrypoint: string;
  /** Whether the files came from an archive (or the legacy base64 archive in `code`). */
  readonly fromArchive: boolean;
}

/**
 * Fills the (empty) work dir from the request: `code_archive` (or the legacy
 * base64 tar.gz in `code`) is extracted, then a non-empty `code` is written as
 * the entrypoint. The entrypoint must then be a regular file inside the dir.
 */
export async function materialise(
  request: GuestRequest,
  workDir: string,
  owner: Identity | null,
): Promise<Materialised> {
  const entrypoint = checkRelative(request.entrypoint ?? DEFAULT_ENTRYPOINTS[request.runtime], 'entrypoint');
  const legacy = request.code_archive ? undefined : legacyArchive(request.code);
  const archive = request.code_archive ?? legacy;
  if (archive) {
    // Loaded on first use: tar and zlib are most of the agent's code and few requests carry an archive.
    const { extractArchive } = await import('./archive.js');
    await extractArchive(archive, workDir, { owner: owner ?? undefined });
  }
  if (!legacy && (request.code !== '' || !archive)) writeCodeFile(workDir, entrypoint, request.code, owner);
  let real: string;
  try {
    real = resolveInside(workDir, entrypoint, 'entrypoint');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VulcanError('E_BAD_REQUEST', `entrypoint ${JSON.stringify(entrypoint)} is not in the archive`, {
        field: 'entrypoint',
      });
    }
    throw error;
  }
  if (!lstatSync(real).isFile()) {
    throw new VulcanError('E_BAD_REQUEST', `entrypoint ${JSON.stringify(entrypoint)} is not a regular file`, {
      field: 'entrypoint',
    });
  }
  return { entrypoint, fromArchive: archive !== undefined };
}
