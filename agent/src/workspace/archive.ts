import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { VulcanError } from '@vulcan/shared';
import * as tar from 'tar';
import { LIMITS } from '../options.js';
import { checkLinkTarget, checkRelative } from './paths.js';

/**
 * Safe extraction of a request's tar.gz (node-tar does the parsing and writing).
 *
 * Pass 1 lists every entry and checks it; any refused entry refuses the whole
 * archive with an error naming it, before a single byte is written — unlike the
 * Go agent, which skipped such entries silently. Pass 2 extracts with node-tar's
 * own protections on (no absolute paths, no `..`, no writing through symlinks)
 * and the same checks as a filter, as defence in depth.
 */

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);
/** Metadata entries node-tar folds into the next entry; they are not files. */
const META_TYPES = new Set([
  'ExtendedHeader',
  'GlobalExtendedHeader',
  'NextFileHasLongPath',
  'NextFileHasLongLinkpath',
  'OldGnuLongPath',
]);

export interface ArchiveCaps {
  readonly maxBytes: number;
  readonly maxEntries: number;
}

const DEFAULT_CAPS: ArchiveCaps = { maxBytes: LIMITS.maxArchiveBytes, maxEntries: LIMITS.maxArchiveEntries };

interface EntryHeader {
  readonly path: string;
  readonly type: string;
  readonly size?: number | undefined;
  readonly linkpath?: string | undefined;
}

function unsafe(name: string, why: string): VulcanError {
  return new VulcanError('E_ARCHIVE_UNSAFE_ENTRY', `archive entry ${JSON.stringify(name)} refused: ${why}`, {
    field: 'code_archive',
  });
}

/** Checks entries one by one, remembering directories and symlinks seen so far. */
class EntryChecker {
  #entries = 0;
  #bytes = 0;
  readonly #links = new Set<string>();
  readonly #files = new Set<string>();

  constructor(private readonly caps: ArchiveCaps) {}

  check(entry: EntryHeader): void {
    if (META_TYPES.has(entry.type)) return;
    const name = entry.path;
    if (!ALLOWED_TYPES.has(entry.type)) throw unsafe(name, `${entry.type} entries are not allowed`);
    let clean: string;
    try {
      clean = checkRelative(name.replace(/\/+$/, '') || name, 'archive entry');
    } catch (error) {
      throw unsafe(name, (error as VulcanError).message.replace(/^archive entry "[^"]*" /, ''));
    }
    if (++this.#entries > this.caps.maxEntries) {
      throw new VulcanError('E_ARCHIVE_TOO_LARGE', `archive has more than ${this.caps.maxEntries} entries`, {
        field: 'code_archive',
      });
    }
    this.#bytes += entry.size ?? 0;
    if (this.#bytes > this.caps.maxBytes) {
      throw new VulcanError('E_ARCHIVE_TOO_LARGE', `archive holds more than ${this.caps.maxBytes} bytes`, {
        field: 'code_archive',
      });
    }
    // WARNING: an entry under an earlier symlink would be written wherever the link points.
    for (let dir = path.posix.dirname(clean); dir !== '.'; dir = path.posix.dirname(dir)) {
      if (this.#links.has(dir)) throw unsafe(name, `it would be written through the symlink ${JSON.stringify(dir)}`);
    }
    if (this.#links.has(clean)) throw unsafe(name, 'it would replace an earlier symlink');
    if (entry.type === 'SymbolicLink') {
      try {
        checkLinkTarget(clean, entry.linkpath ?? '', 'link target');
      } catch (error) {
        throw unsafe(name, (error as VulcanError).message);
      }
      this.#links.add(clean);
    } else if (entry.type === 'Link') {
      // Hard links may only point at a regular file extracted earlier from this archive.
      let target: string;
      try {
        target = checkRelative(entry.linkpath ?? '', 'hard link target');
      } catch (error) {
        throw unsafe(name, (error as VulcanError).message);
      }
      if (!this.#files.has(target))
        throw unsafe(name, `hard link to ${JSON.stringify(target)}, not a file of this archive`);
    } else if (entry.type !== 'Directory') {
      this.#files.add(clean);
    }
  }
}

function readError(error: unknown): VulcanError {
  if (error instanceof VulcanError) return error;
  // node-tar's own refusals while writing (e.g. TAR_SYMLINK_ERROR) name the entry: report them as unsafe.
  const entry = (error as { entry?: { path?: unknown } }).entry?.path;
  if ((error as { tarCode?: unknown }).tarCode === 'TAR_ENTRY_ERROR' && typeof entry === 'string') {
    return unsafe(entry, (error as Error).message);
  }
  return new VulcanError('E_ARCHIVE_INVALID', `archive is not a readable tar.gz: ${(error as Error).message}`, {
    field: 'code_archive',
    cause: error,
  });
}

/** Pass 1: parse the whole archive and check every entry. Writes nothing. */
export function inspectArchive(archive: Uint8Array, caps: ArchiveCaps = DEFAULT_CAPS): Promise<number> {
  return new Promise((resolve, reject) => {
    const checker = new EntryChecker(caps);
    let failed: VulcanError | undefined;
    let count = 0;
    const parser = new tar.Parser({
      strict: true,
      onReadEntry: (entry) => {
        if (!failed) {
          try {
            checker.check(entry);
            count++;
          } catch (error) {
            failed = readError(error);
            parser.abort(failed);
          }
        }
        entry.resume();
      },
    });
    parser.on('error', (error: Error) => reject(failed ?? readError(error)));
    parser.on('abort', (error: Error) => reject(failed ?? readError(error)));
    parser.on('end', () => (failed ? reject(failed) : resolve(count)));
    if (archive.byteLength < 2 || archive[0] !== 0x1f || archive[1] !== 0x8b) {
      reject(
        new VulcanError('E_ARCHIVE_INVALID', 'archive is not gzip-compressed (tar.gz expected)', {
          field: 'code_archive',
        }),
      );
      return;
    }
    parser.end(Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength));
  });
}

export interface ExtractOptions {
  /** Owner forced on every extracted file (when the agent is root). */
  readonly owner?: { readonly uid: number; readonly gid: number } | undefined;
  readonly caps?: ArchiveCaps;
}

/** Checks the whole archive, then extracts it into `dir` (which must exist and be empty). */
export async function extractArchive(archive: Uint8Array, dir: string, options: ExtractOptions = {}): Promise<number> {
  const count = await inspectArchive(archive, options.caps);
  try {
    await unpack(archive, dir, options);
  } catch (error) {
    // Refused halfway by node-tar: leave nothing of the archive behind.
    const names = await readdir(dir);
    await Promise.all(names.map((name) => rm(path.join(dir, name), { recursive: true, force: true })));
    throw error;
  }
  return count;
}

/** Pass 2: node-tar writes the entries, with the checks of pass 1 repeated as a filter. */
function unpack(archive: Uint8Array, dir: string, options: ExtractOptions): Promise<void> {
  const checker = new EntryChecker(options.caps ?? DEFAULT_CAPS);
  return new Promise<void>((resolve, reject) => {
    let failed: VulcanError | undefined;
    const unpacker = new tar.Unpack({
      cwd: dir,
      strict: true,
      preservePaths: false,
      noMtime: true,
      maxDepth: 64,
      ...(options.owner ? { uid: options.owner.uid, gid: options.owner.gid, preserveOwner: false } : {}),
      filter: (_path, entry) => {
        try {
          checker.check(entry as EntryHeader);
          return true;
        } catch (error) {
          failed ??= readError(error);
          return false;
        }
      },
    });
    unpacker.on('error', (error: Error) => reject(failed ?? readError(error)));
    unpacker.on('close', () => (failed ? reject(failed) : resolve()));
    unpacker.end(Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength));
  });
}
