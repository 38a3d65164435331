import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  root,
  resolve: {
    // Tests import the shared package from source, so they never run against a stale build.
    alias: { '@vulcan/shared': fileURLToPath(new URL('../shared/src/index.ts', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // The in-VM smoke test has its own config (test/smoke/vitest.config.ts): make smoke.
    exclude: ['test/smoke/**', '**/node_modules/**'],
    // Integration tests spawn real processes; keep them from starving each other on 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
