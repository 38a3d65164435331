import { describe, expect, test } from 'vitest';
import { parseCommand, parseListen } from '../../agent/src/cli.js';
import { DEFAULT_OPTIONS } from '../../agent/src/options.js';

describe('parseListen', () => {
  test.each([
    ['vsock:1024', { kind: 'vsock', port: 1024 }],
    ['vsock:4294967295', { kind: 'vsock', port: 4294967295 }],
    ['unix:/run/a.sock', { kind: 'unix', path: '/run/a.sock' }],
    ['tcp:127.0.0.1:9000', { kind: 'tcp', host: '127.0.0.1', port: 9000 }],
    ['tcp:[::1]:9000', { kind: 'tcp', host: '::1', port: 9000 }],
  ])('%s', (spec, expected) => {
    expect(parseListen(spec)).toEqual(expected);
  });

  test.each(['vsock:0', 'vsock:x', 'vsock:', 'unix:', 'tcp:9000', 'tcp::9000', 'tcp:h:70000', 'http:1', '1024'])(
    'rejects %s',
    (spec) => {
      expect(parseListen(spec)).toBeUndefined();
    },
  );
});

describe('parseCommand', () => {
  test('defaults: vsock 1024 and /work', () => {
    expect(parseCommand([])).toEqual({ kind: 'run', options: DEFAULT_OPTIONS });
    expect(DEFAULT_OPTIONS).toMatchObject({
      listen: { kind: 'vsock', port: 1024 },
      workDir: '/work',
      defaultTimeoutS: 30,
    });
  });

  test('every flag', () => {
    const command = parseCommand([
      '--listen',
      'unix:/tmp/a.sock',
      '--work-dir',
      '/srv/work',
      '--run-as',
      'sandbox',
      '--go-cache',
      '/cache',
      '--default-timeout',
      '12',
      '--quiet',
    ]);
    expect(command).toEqual({
      kind: 'run',
      options: {
        ...DEFAULT_OPTIONS,
        listen: { kind: 'unix', path: '/tmp/a.sock' },
        workDir: '/srv/work',
        runAs: 'sandbox',
        goCache: '/cache',
        defaultTimeoutS: 12,
        quiet: true,
      },
    });
  });

  test('--version and --help exit 0', () => {
    expect(parseCommand(['--version'])).toMatchObject({
      kind: 'exit',
      status: 0,
      text: expect.stringMatching(/^vulcan-guest \S+ \(node v\d+/),
    });
    expect(parseCommand(['-h'])).toMatchObject({
      kind: 'exit',
      status: 0,
      text: expect.stringContaining('--listen SPEC'),
    });
  });

  test.each([
    [['--bogus'], "Unknown option '--bogus'"],
    [['--listen', 'vsock:abc'], '--listen expects'],
    [['--work-dir', 'relative'], '--work-dir expects an absolute path'],
    [['--default-timeout', '0'], '--default-timeout expects'],
    [['--default-timeout', '1.5'], '--default-timeout expects'],
    [['--run-as', ''], '--run-as expects'],
    [['positional'], 'Unexpected argument'],
  ])('%j is a usage error with exit status 2', (argv, message) => {
    const command = parseCommand(argv);
    expect(command).toMatchObject({ kind: 'exit', status: 2 });
    expect(command.kind === 'exit' && command.text).toContain(message);
  });
});
