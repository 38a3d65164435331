import { readdirSync, readFileSync } from 'node:fs';

/**
 * Last line of defence when a workload escaped its process group (setsid) and
 * there is no cgroup: SIGKILL every process owned by the workload's uid. Only
 * ever called for a dedicated unprivileged uid, never the agent's own.
 */
export function killUser(uid: number): number {
  if (uid === process.getuid?.()) return 0;
  let killed = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${name}/status`, 'utf8');
    } catch {
      continue; // Exited meanwhile.
    }
    const real = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    if (real === undefined || Number(real) !== uid) continue;
    try {
      process.kill(Number(name), 'SIGKILL');
      killed++;
    } catch {
      // Gone.
    }
  }
  return killed;
}
