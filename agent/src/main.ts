import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseCommand } from './cli.js';
import { listen } from './listen/listen.js';
import { log, setQuiet } from './log.js';
import { LIMITS } from './options.js';
import { becomeInit, type Init } from './pid1.js';
import { Cgroups } from './run/cgroup.js';
import { resolveIdentity } from './run/identity.js';
import { Server } from './server.js';
import { AGENT_VERSION } from './version.js';

/** Wiring only: init (if PID 1) → listen → serve. */
async function main(): Promise<void> {
  const command = parseCommand(process.argv.slice(2));
  if (command.kind === 'exit') {
    (command.status === 0 ? process.stdout : process.stderr).write(command.text);
    process.exitCode = command.status;
    return;
  }
  const { options } = command;
  setQuiet(options.quiet);
  const init: Init | null = process.pid === 1 ? await becomeInit() : null;
  const root = process.getuid?.() === 0;
  if (root) protectFromOomKiller();

  const identity = resolveIdentity(options.runAs);
  const cgroups = root ? Cgroups.detect() : null;
  const limitMemory = cgroups?.controllers.has('memory') ?? false;
  const memoryMaxBytes = limitMemory ? Math.max(os.totalmem() - LIMITS.agentReserveBytes, 32 * 1024 * 1024) : undefined;
  const server = new Server({
    workDir: options.workDir,
    scratchDir: options.scratchDir,
    goCache: options.goCache,
    defaultTimeoutS: options.defaultTimeoutS,
    identity,
    cgroups,
    memoryMaxBytes,
    pids: cgroups?.controllers.has('pids') ?? false,
  });
  const listener = await listen(options.listen, (socket) => server.handle(socket));
  const isolation = [
    identity ? `workloads run as ${identity.name} (uid ${identity.uid})` : 'workloads run as the agent user',
    cgroups ? `cgroup ${cgroups.parent} [${[...cgroups.controllers].join(',') || 'kill only'}]` : 'no cgroup v2',
  ].join(', ');
  log('notice', `ready: vulcan-guest ${AGENT_VERSION} listening on ${listener.description}; ${isolation}`);

  const stop = async (signal: string): Promise<void> => {
    listener.close();
    const stopWorkloads = async (): Promise<void> => {
      server.abortAll();
      while (server.active > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    if (init) await init.shutdown(`received ${signal}`, stopWorkloads);
    log('notice', `received ${signal}: stopping workloads and exiting`);
    await Promise.race([stopWorkloads(), new Promise((resolve) => setTimeout(resolve, 5000))]);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

/** The VM's memory belongs to the workload, but the OOM killer must pick the workload, never the agent. */
function protectFromOomKiller(): void {
  try {
    writeFileSync('/proc/self/oom_score_adj', '-1000');
  } catch (error) {
    log('warn', `cannot protect the agent from the OOM killer: ${(error as Error).message}`);
  }
}

// WARNING: the agent must outlive any bug in a request path: log and keep serving.
process.on('uncaughtException', (error) => log('error', `uncaught: ${error.stack ?? error.message}`));
process.on('unhandledRejection', (reason) =>
  log('error', `unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`),
);

main().catch((error: unknown) => {
  log('error', `fatal: ${(error as Error)?.message ?? String(error)}`);
  process.exit(1);
});
