import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The in-VM smoke test: its own config, so `make test` never boots VMs. One file, run serially.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  resolve: { alias: { '@vulcan/shared': fileURLToPath(new URL('../../shared/src/index.ts', import.meta.url)) } },
  test: {
    include: ['test/smoke/**/*.test.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { concurrent: false },
    testTimeout: 600_000,
    hookTimeout: 120_000,
    reporters: ['verbose'],
  },
});
