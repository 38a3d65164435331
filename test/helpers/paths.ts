import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Repository root. */
export const ROOT = path.resolve(import.meta.dirname, '../..');

/** Builds the TypeScript projects (incremental, fast when up to date) so a test runs the emitted code. */
export function buildProjects(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', ROOT], {
    stdio: 'inherit',
  });
}
