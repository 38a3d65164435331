import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/**
 * Loading the agent's two native addons:
 * - `vsock`: node-vsock (npm node-vsock-linux-x64-gnu), for AF_VSOCK listen/accept;
 * - `syscalls`: our own agent/native/syscalls.c: pipe2 for workload output, and
 *   mount/waitpid/reboot when PID 1.
 * Order: VULCAN_<NAME>_ADDON if set; else the copy embedded in the single-file
 * binary (a SEA asset, written to a root-only file and dlopen'ed — the loader
 * needs a path); else the file the development build uses.
 */
export type NativeName = 'vsock' | 'syscalls';

/** SEA asset names, shared with the binary's build script. */
export const NATIVE_ASSETS: Readonly<Record<NativeName, string>> = Object.freeze({
  vsock: 'node-vsock.node',
  syscalls: 'syscalls.node',
});

function dlopen<T>(file: string): T {
  const module = { exports: {} as T };
  process.dlopen(module, file);
  return module.exports;
}

async function seaAsset(name: string): Promise<ArrayBuffer | undefined> {
  try {
    const sea = await import('node:sea');
    return sea.isSea() ? sea.getAsset(name) : undefined;
  } catch {
    return undefined; // No node:sea (not a single-file binary).
  }
}

/**
 * Places where an embedded addon can be written. As PID 1, /run is not mounted
 * yet when syscalls.node is needed, so the root filesystem's /run comes first and
 * the kernel-mounted /dev is the fallback for a read-only root.
 */
function extractDirs(): string[] {
  return [
    '/run/vulcan-guest',
    '/dev/.vulcan-guest',
    path.join(os.tmpdir(), `vulcan-guest-native-${process.getuid?.()}`),
  ];
}

function fromAsset<T>(name: NativeName, asset: ArrayBuffer): T {
  const bytes = new Uint8Array(asset);
  const failures: string[] = [];
  for (const dir of extractDirs()) {
    const file = path.join(dir, `${name}.node`);
    try {
      // WARNING: root-only directory, so a workload can never swap the library we load.
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
      // Write aside, then rename: an agent still running from the old file keeps its mapping intact.
      const fresh = `${file}.${process.pid}`;
      writeFileSync(fresh, bytes, { mode: 0o500 });
      renameSync(fresh, file);
      return dlopen<T>(file);
    } catch (error) {
      failures.push(`${file}: ${(error as Error).message}`);
    }
  }
  throw new Error(`cannot load the embedded ${name} addon (${failures.join('; ')})`);
}

function fromDevelopmentBuild<T>(name: NativeName): T {
  const script = path.resolve(process.argv[1] ?? 'vulcan-guest');
  if (name === 'vsock') return createRequire(script)('node-vsock-linux-x64-gnu') as T;
  return dlopen<T>(path.join(path.dirname(script), NATIVE_ASSETS.syscalls));
}

/** Loads an addon; throws an Error saying which source failed and why. */
export async function loadNative<T>(name: NativeName): Promise<T> {
  const override = process.env[`VULCAN_${name.toUpperCase()}_ADDON`];
  try {
    if (override) return dlopen<T>(override);
    const asset = await seaAsset(NATIVE_ASSETS[name]);
    return asset ? fromAsset<T>(name, asset) : fromDevelopmentBuild<T>(name);
  } catch (error) {
    throw new Error(`cannot load the ${name} addon: ${(error as Error).message}`, { cause: error });
  }
}
