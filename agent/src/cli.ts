import { parseArgs } from 'node:util';
import { MAX_TIMEOUT_S } from '@vulcan/shared';
import { type AgentOptions, DEFAULT_OPTIONS, type ListenSpec } from './options.js';
import { versionText } from './version.js';

export const USAGE = `usage: vulcan-guest [options]

Runs go/node/python workloads sent by a Vulcan host, one per connection, and
streams their output back (length-prefixed JSON frames).

  --listen SPEC        vsock:PORT (default vsock:1024), unix:PATH or tcp:HOST:PORT
  --work-dir DIR       directory workloads run in, emptied before each run (default /work)
  --run-as USER        user for workloads when the agent is root (default: vulcan if it
                       exists, else nobody); ignored when not root
  --go-cache DIR       Go build cache to use when it exists (default /var/cache/vulcan/go-build)
  --default-timeout S  timeout for requests with timeout_s 0 (default 30)
  --quiet              log only warnings and errors
  --version            print the version and the embedded Node version
  -h, --help           this text
`;

/** What main should do: run the agent, or print and exit with a status. */
export type Command = { kind: 'run'; options: AgentOptions } | { kind: 'exit'; status: 0 | 2; text: string };

function usageError(message: string): Command {
  return { kind: 'exit', status: 2, text: `vulcan-guest: ${message}\n${USAGE}` };
}

function parsePort(text: string, max: number): number | undefined {
  if (!/^[0-9]{1,10}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= max ? port : undefined;
}

/** Parses `--listen`: undefined when it is not one of the three forms. */
export function parseListen(spec: string): ListenSpec | undefined {
  const colon = spec.indexOf(':');
  if (colon < 0) return undefined;
  const kind = spec.slice(0, colon);
  const rest = spec.slice(colon + 1);
  if (kind === 'vsock') {
    const port = parsePort(rest, 2 ** 32 - 1);
    return port === undefined ? undefined : { kind, port };
  }
  if (kind === 'unix') return rest === '' ? undefined : { kind, path: rest };
  if (kind === 'tcp') {
    const last = rest.lastIndexOf(':');
    const host = rest.slice(0, last).replace(/^\[(.*)\]$/, '$1');
    const port = last < 0 ? undefined : parsePort(rest.slice(last + 1), 65_535);
    return host === '' || port === undefined ? undefined : { kind, host, port };
  }
  return undefined;
}

/** Turns argv into a command; never throws and never exits (main does). */
export function parseCommand(argv: readonly string[]): Command {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (error) {
    return usageError((error as Error).message);
  }
  if (values.help) return { kind: 'exit', status: 0, text: USAGE };
  if (values.version) return { kind: 'exit', status: 0, text: `${versionText()}\n` };
  const listen = values.listen === undefined ? DEFAULT_OPTIONS.listen : parseListen(values.listen);
  if (listen === undefined) {
    return usageError(`--listen expects vsock:PORT, unix:PATH or tcp:HOST:PORT, got ${JSON.stringify(values.listen)}`);
  }
  if (values['work-dir'] !== undefined && !values['work-dir'].startsWith('/')) {
    return usageError(`--work-dir expects an absolute path, got ${JSON.stringify(values['work-dir'])}`);
  }
  let defaultTimeoutS = DEFAULT_OPTIONS.defaultTimeoutS;
  if (values['default-timeout'] !== undefined) {
    const text = values['default-timeout'];
    defaultTimeoutS = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
    if (!(defaultTimeoutS >= 1 && defaultTimeoutS <= MAX_TIMEOUT_S)) {
      return usageError(`--default-timeout expects seconds in 1..${MAX_TIMEOUT_S}, got ${JSON.stringify(text)}`);
    }
  }
  if (values['run-as'] === '') return usageError('--run-as expects a user name');
  return {
    kind: 'run',
    options: Object.freeze({
      ...DEFAULT_OPTIONS,
      listen,
      workDir: values['work-dir'] ?? DEFAULT_OPTIONS.workDir,
      runAs: values['run-as'] ?? null,
      goCache: values['go-cache'] ?? DEFAULT_OPTIONS.goCache,
      defaultTimeoutS,
      quiet: values.quiet ?? false,
    }),
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      listen: { type: 'string' },
      'work-dir': { type: 'string' },
      'run-as': { type: 'string' },
      'go-cache': { type: 'string' },
      'default-timeout': { type: 'string' },
      quiet: { type: 'boolean' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
