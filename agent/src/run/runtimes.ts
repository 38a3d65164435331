import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { type Runtime, SUPPORTED_RUNTIMES } from '@vulcan/shared';
import { WORKLOAD_PATH } from './environment.js';

/**
 * The runtimes table: how each runtime turns an entrypoint into a command.
 * Commands run with the work dir as cwd; paths are relative to it.
 */
export interface Command {
  readonly file: string;
  readonly args: readonly string[];
}

export interface RuntimeContext {
  /** Work dir (absolute). */
  readonly workDir: string;
  /** Entrypoint relative to the work dir. */
  readonly entrypoint: string;
  /** Writable scratch directory of the workload (for Go's binary). */
  readonly scratch: string;
}

export interface RuntimeSpec {
  /** The executable that must exist on PATH for this runtime. */
  readonly binary: string;
  command(context: RuntimeContext): Command;
}

/**
 * Go: `go build` then exec the binary. Same as `go run` for the program, but the
 * program's own exit status is reported (`go run` turns every failure into 1) and
 * the program is not left behind as a grandchild of the go tool.
 *
 * What is built: the package of the entrypoint's directory when the work dir has
 * a go.mod; the .go files of that directory when there are several; else the file.
 */
export function goTargets(workDir: string, entrypoint: string): string[] {
  const dir = path.posix.dirname(entrypoint);
  if (existsSync(path.join(workDir, 'go.mod'))) return [dir === '.' ? '.' : `./${dir}`];
  const files = readdirSync(path.join(workDir, dir))
    .filter((name) => name.endsWith('.go') && !name.endsWith('_test.go'))
    .sort()
    .map((name) => (dir === '.' ? name : `${dir}/${name}`));
  return files.length > 1 ? files : [entrypoint];
}

const GO_BUILD_AND_RUN = 'out="$1"; shift; go build -o "$out" -- "$@" && exec "$out"';

export const RUNTIMES: Readonly<Record<Runtime, RuntimeSpec>> = Object.freeze({
  python: {
    binary: 'python3',
    // -u: unbuffered, so every line streams as it is printed.
    command: ({ entrypoint }) => ({ file: 'python3', args: ['-u', entrypoint] }),
  },
  node: {
    binary: 'node',
    command: ({ entrypoint }) => ({ file: 'node', args: [entrypoint] }),
  },
  go: {
    binary: 'go',
    command: ({ workDir, entrypoint, scratch }) => ({
      file: '/bin/sh',
      args: ['-c', GO_BUILD_AND_RUN, 'vulcan-go', path.join(scratch, 'vulcan-main'), ...goTargets(workDir, entrypoint)],
    }),
  },
});

/** The runtimes whose executable this image has on the workloads' PATH (detected, for pings). */
export function availableRuntimes(pathVar = WORKLOAD_PATH): Runtime[] {
  return SUPPORTED_RUNTIMES.filter((runtime) => findOnPath(RUNTIMES[runtime].binary, pathVar));
}

/** Finds `binary` on a PATH string; undefined when it is not installed (or not executable). */
export function findOnPath(binary: string, pathVar: string): string | undefined {
  for (const dir of pathVar.split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}
