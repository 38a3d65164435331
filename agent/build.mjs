#!/usr/bin/env node
// Builds the agent for development and tests:
//   build/vulcan-guest.cjs  the whole agent bundled into one CommonJS script (esbuild)
//   build/syscalls.node     the syscall addon (agent/native/syscalls.c, gcc + Node-API headers)
// The single-file binary (build/vulcan-guest) is made from these by agent/sea.mjs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'build');
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [path.join(root, 'agent/src/main.ts')],
  outfile: path.join(out, 'vulcan-guest.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minifySyntax: true,
  legalComments: 'none',
  banner: { js: '#!/usr/bin/env node' },
  define: { __VULCAN_VERSION__: JSON.stringify(version) },
  // Resolved from node_modules at run time in development; embedded as SEA assets in the binary.
  external: ['node-vsock-linux-x64-gnu'],
  logLevel: 'warning',
});

execFileSync(
  process.env.CC || 'gcc',
  [
    '-O2',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-shared',
    '-fPIC',
    '-I',
    path.join(root, 'node_modules/node-api-headers/include'),
    '-o',
    path.join(out, 'syscalls.node'),
    path.join(root, 'agent/native/syscalls.c'),
  ],
  { stdio: 'inherit' },
);
console.log(`built ${path.relative(root, out)}/vulcan-guest.cjs and syscalls.node (vulcan-guest ${version})`);
