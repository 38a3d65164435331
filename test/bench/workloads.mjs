#!/usr/bin/env node
// make bench, part 2: the agent's cost on real work, each figure a ratio against the
// bare alternative measured in the same run (A/B alternated, median and spread):
//   - round trip of a `pass` python program  vs  spawning `python3 -u main.py` directly
//   - 200 000 output lines streamed to a host  vs  the same program writing to a pipe we read
//   - agent memory growth while streaming 100 MB  vs  the idle agent (fresh agents, several runs)
//   - 20 sequential requests: last vs first (drift)
// Writes build/bench/workloads.json.   Usage: node test/bench/workloads.mjs [--runs N]
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decodeMessage, encodeFrame, encodeRequest, FrameDecoder } from '../../shared/dist/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '11' } } });
const runs = Number(values.runs);
const memoryRuns = Math.max(3, Math.ceil(runs / 4));
const dir = mkdtempSync(path.join(tmpdir(), 'bench-work-'));
chmodSync(dir, 0o755);
let socketPath = '';
let agent;

/** Starts a fresh agent on a unix socket and waits for its ready line. */
async function startAgent(name) {
  socketPath = path.join(dir, `${name}.sock`);
  agent = spawn(
    path.join(root, 'build/vulcan-guest'),
    ['--listen', `unix:${socketPath}`, '--work-dir', path.join(dir, 'work'), '--quiet'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  await new Promise((resolve, reject) => {
    let text = '';
    agent.stderr.on('data', (d) => {
      text += d;
      if (text.includes('ready:')) resolve();
    });
    agent.once('exit', (code) => reject(new Error(`agent exited ${code}: ${text}`)));
  });
}

// The interpreter the agent runs (first python3 on its workloads' PATH), so both sides run the same one.
const python3 = ['/usr/local/bin/python3', '/usr/bin/python3', '/bin/python3'].find((f) => {
  try {
    readFileSync(f);
    return true;
  } catch {
    return false;
  }
});
await startAgent('a');

const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6;
/** Anonymous memory the VM cannot reclaim (Private_Dirty), in MiB. */
const privateDirty = () =>
  Number(/^Private_Dirty:\s+(\d+) kB/m.exec(readFileSync(`/proc/${agent.pid}/smaps_rollup`, 'utf8'))[1]) / 1024;
const rss = () => {
  const status = readFileSync(`/proc/${agent.pid}/status`, 'utf8');
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024, hwm: Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024 };
};

/** One request through the agent; resolves with wall ms, the number of log lines and the result. */
function viaAgent(request) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const socket = net.createConnection(socketPath);
    const decoder = new FrameDecoder();
    let lines = 0;
    socket.on('connect', () => socket.write(encodeFrame(encodeRequest({ code: '', timeout_s: 120, ...request }))));
    socket.on('data', (chunk) => {
      for (const frame of decoder.push(chunk)) {
        // Count lines the cheap way; parse only the result, as a host that streams to a log would.
        if (frame[9] === 0x6c)
          lines++; // {"type":"l…
        else {
          const message = decodeMessage(frame);
          socket.destroy();
          resolve({ ms: ms(start), lines, response: message.response });
        }
      }
    });
    socket.on('error', reject);
  });
}

/** The same program run directly; its stdout read from a pipe, line by line. */
function direct(code) {
  const file = path.join(dir, 'direct.py');
  writeFileSync(file, code);
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(python3, ['-u', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lines = 0;
    child.stdout.on('data', (chunk) => {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
    });
    child.on('error', reject);
    child.on('close', () => resolve({ ms: ms(start), lines }));
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (xs, unit) =>
  `${median(xs).toFixed(1)} ${unit} [${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}]`;
const rows = [];
const add = (figure, a, b, unit, target, ratio = median(a) / median(b)) =>
  rows.push({
    figure,
    agent: fmt(a, unit),
    baseline: fmt(b, unit),
    ratio: Number(ratio.toFixed(3)),
    target,
    meets: ratio <= Number(target.replace(/[^\d.]/g, '')) ? 'yes' : 'NO',
  });

// Warm both paths once (page cache, the agent's JIT).
await viaAgent({ runtime: 'python', code: 'pass' });
await direct('pass');

const pass = { agent: [], direct: [] };
const lines = { agent: [], direct: [] };
const lineCode = 'import sys\nw = sys.stdout.write\nfor i in range(200000):\n    w(f"line {i:08}\\n")\n';
for (let i = 0; i < runs; i++) {
  for (const first of i % 2 ? ['direct', 'agent'] : ['agent', 'direct']) {
    if (first === 'agent') pass.agent.push((await viaAgent({ runtime: 'python', code: 'pass' })).ms);
    else pass.direct.push((await direct('pass')).ms);
  }
}
add('round trip of a `pass` python program', pass.agent, pass.direct, 'ms', '≤ 1.15×');

for (let i = 0; i < Math.max(3, Math.ceil(runs / 2)); i++) {
  for (const first of i % 2 ? ['direct', 'agent'] : ['agent', 'direct']) {
    if (first === 'agent') {
      const r = await viaAgent({ runtime: 'python', code: lineCode });
      if (r.lines !== 200000) throw new Error(`agent streamed ${r.lines} lines`);
      lines.agent.push(r.ms);
    } else {
      const r = await direct(lineCode);
      if (r.lines !== 200000) throw new Error(`pipe read ${r.lines} lines`);
      lines.direct.push(r.ms);
    }
  }
}
add('200 000 output lines to the host', lines.agent, lines.direct, 'ms', '≤ 1.5×');

const sequential = [];
for (let i = 0; i < 20; i++) sequential.push((await viaAgent({ runtime: 'python', code: 'print("x")' })).ms);
agent.kill('SIGTERM');

// Memory: a fresh agent after one small request (idle), then its peak while 100 MB stream through
// it; a fresh agent each time (a microVM runs one workload), several times for the spread.
const memory = { dirty: [], rss: [], idleDirty: [], idleRss: [] };
for (let i = 0; i < memoryRuns; i++) {
  await startAgent(`m${i}`);
  await viaAgent({ runtime: 'python', code: 'print("warm")' });
  await sleep(500);
  const idle = rss().rss;
  const idleDirty = privateDirty();
  let peakDirty = idleDirty;
  const sampler = setInterval(() => {
    peakDirty = Math.max(peakDirty, privateDirty());
  }, 5);
  await viaAgent({
    runtime: 'python',
    code: 'import sys\nblock = ("x" * 99 + "\\n") * 10000\nfor i in range(100):\n    sys.stdout.write(block)\n',
  });
  clearInterval(sampler);
  peakDirty = Math.max(peakDirty, privateDirty());
  memory.dirty.push(peakDirty - idleDirty);
  memory.rss.push(rss().hwm - idle);
  memory.idleDirty.push(idleDirty);
  memory.idleRss.push(idle);
  agent.kill('SIGTERM');
}
const growth = median(memory.rss);
rows.push({
  figure: 'agent Private_Dirty growth streaming 100 MB (sampled)',
  agent: fmt(memory.dirty, 'MiB'),
  baseline: `idle ${fmt(memory.idleDirty, 'MiB')}`,
  ratio: Number(median(memory.dirty).toFixed(1)),
  target: 'anonymous memory: what the VM cannot reclaim',
  meets: '',
});
rows.push({
  figure: 'agent RSS growth streaming 100 MB (VmHWM)',
  agent: fmt(memory.rss, 'MiB'),
  baseline: `idle ${fmt(memory.idleRss, 'MiB')}`,
  ratio: Number(growth.toFixed(1)),
  target: '≤ +8 MiB',
  meets: growth <= 8 ? 'yes' : 'NO',
});

const firstFive = sequential.slice(0, 5);
const lastFive = sequential.slice(-5);
add('20 sequential requests (last 5 vs first 5)', lastFive, firstFive, 'ms', '≤ 1.1×');

rmSync(dir, { recursive: true, force: true });
console.log(`vulcan-guest on real work, ${runs} runs per side (A/B alternated), median [min–max]`);
console.table(rows);
mkdirSync(path.join(root, 'build/bench'), { recursive: true });
writeFileSync(
  path.join(root, 'build/bench/workloads.json'),
  `${JSON.stringify({ date: new Date().toISOString(), runs, rows, samples: { pass, lines, sequential, memory } }, null, 2)}\n`,
);
