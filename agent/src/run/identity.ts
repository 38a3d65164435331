import { readFileSync } from 'node:fs';
import { FALLBACK_USER, WORKLOAD_USER } from '../options.js';

/** The unprivileged user a workload runs as. */
export interface Identity {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** Looks a user up in /etc/passwd (Node has no getpwnam); undefined when absent. */
export function lookupUser(name: string, passwd = '/etc/passwd'): Identity | undefined {
  let text: string;
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] !== name || fields.length < 7) continue;
    const uid = Number(fields[2]);
    const gid = Number(fields[3]);
    if (Number.isInteger(uid) && Number.isInteger(gid)) return { name, uid, gid };
  }
  return undefined;
}

/**
 * Who workloads run as: null (the agent itself) when the agent is not root;
 * otherwise `runAs`, or the images' workload user, or nobody. Throws when the
 * requested user does not exist or is root — running workloads as root is never
 * what anyone wants.
 */
export function resolveIdentity(runAs: string | null): Identity | null {
  if (process.getuid?.() !== 0) return null;
  const candidates = runAs === null ? [WORKLOAD_USER, FALLBACK_USER] : [runAs];
  for (const name of candidates) {
    const identity = lookupUser(name);
    if (identity === undefined) continue;
    if (identity.uid === 0) throw new Error(`--run-as ${name}: refusing to run workloads as root`);
    return identity;
  }
  throw new Error(`no workload user: ${candidates.join(' or ')} not found in /etc/passwd`);
}
