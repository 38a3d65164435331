#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runOnGuest } from '../client.js';
import { DEFAULT_VSOCK_PORT, isRuntime, SUPPORTED_RUNTIMES } from '../constants.js';
import { isVulcanError } from '../errors.js';
import type { GuestRequest } from '../protocol.js';

const USAGE = `usage: vulcan-run --uds PATH --runtime go|node|python (--file FILE | --archive FILE.tar.gz) [options]

Sends one workload to a vulcan-guest agent, prints its output lines as they stream
(stdout lines to stdout, stderr lines to stderr) and exits with the workload's exit code.

  --uds PATH          the VMM's hybrid-vsock Unix socket (or the agent's own socket with --raw)
  --port N            guest vsock port for the CONNECT handshake (default ${DEFAULT_VSOCK_PORT})
  --raw               talk to an agent listening on a plain Unix socket: no handshake
  --runtime NAME      one of ${SUPPORTED_RUNTIMES.join(', ')}
  --file FILE         source file sent as \`code\`
  --archive FILE      tar.gz sent as \`code_archive\`
  --entrypoint NAME   file to run, relative to the work dir
  --input FILE        file whose bytes become the program's stdin ("-" for this stdin)
  --env KEY=VALUE     extra environment variable (repeatable)
  --timeout S         workload timeout in seconds (0: the agent's default)
  --attempts N        connection attempts while the guest boots (default 5)
  --json              print the result as JSON on stdout at the end
  -h, --help          this text
`;

function fail(message: string): never {
  process.stderr.write(`vulcan-run: ${message}\n${USAGE}`);
  process.exit(2);
}

function positiveInt(name: string, text: string | undefined, fallback: number, min = 0): number {
  if (text === undefined) return fallback;
  if (!/^[0-9]+$/.test(text) || Number(text) < min)
    fail(`--${name} expects an integer ≥ ${min}, got ${JSON.stringify(text)}`);
  return Number(text);
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (error) {
    fail((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (!values.uds) fail('--uds is required');
  if (!values.runtime || !isRuntime(values.runtime)) fail(`--runtime must be one of ${SUPPORTED_RUNTIMES.join(', ')}`);
  if (!values.file === !values.archive) fail('give exactly one of --file and --archive');
  const env: Record<string, string> = {};
  for (const pair of values.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) fail(`--env expects KEY=VALUE, got ${JSON.stringify(pair)}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const timeout = positiveInt('timeout', values.timeout, 0);
  const port = positiveInt('port', values.port, DEFAULT_VSOCK_PORT, 1);
  const attempts = positiveInt('attempts', values.attempts, 5, 1);
  const request: GuestRequest = {
    runtime: values.runtime,
    code: values.file ? readFileSync(values.file, 'utf8') : '',
    timeout_s: timeout,
  };
  if (values.archive) request.code_archive = readFileSync(values.archive);
  if (values.file && !values.entrypoint && values.runtime !== 'go') request.entrypoint = path.basename(values.file);
  if (values.entrypoint) request.entrypoint = values.entrypoint;
  if (values.input) request.input = readFileSync(values.input === '-' ? 0 : values.input);
  if (Object.keys(env).length > 0) request.env = env;

  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort(new Error('interrupted')));
  const response = await runOnGuest(request, {
    path: values.uds,
    transport: values.raw ? 'unix' : 'hybrid',
    port,
    attempts,
    signal: abort.signal,
    onLog: (log) => (log.stream === 'stderr' ? process.stderr : process.stdout).write(`${log.line}\n`),
  });
  if (values.json) process.stdout.write(`${JSON.stringify(response)}\n`);
  if (response.error) process.stderr.write(`vulcan-run: ${response.error}\n`);
  process.exitCode = response.exit_code === 0 && response.error ? 1 : Math.min(Math.max(response.exit_code, 0), 255);
}

function parse() {
  return parseArgs({
    strict: true,
    allowPositionals: false,
    options: {
      uds: { type: 'string' },
      port: { type: 'string' },
      raw: { type: 'boolean' },
      runtime: { type: 'string' },
      file: { type: 'string' },
      archive: { type: 'string' },
      entrypoint: { type: 'string' },
      input: { type: 'string' },
      env: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      attempts: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

main().catch((error: unknown) => {
  const code = isVulcanError(error) ? ` [${error.code}]` : '';
  process.stderr.write(`vulcan-run: ${(error as Error).message}${code}\n`);
  process.exitCode = 1;
});
