import { existsSync } from 'node:fs';
import path from 'node:path';

/** PATH of every workload: the usual system dirs plus where Go is installed (Debian or upstream). */
export const WORKLOAD_PATH =
  '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin:/usr/lib/go/bin';

export interface EnvironmentInputs {
  /** The workload user's name (or the agent's, when not root). */
  readonly user: string;
  /** Per-run home directory (HOME); TMPDIR is `${home}/tmp`. */
  readonly home: string;
  /** Pre-warmed Go build cache; used when it exists, else a cache under HOME. */
  readonly goCache: string;
  /** The request's `env`, merged over everything else. */
  readonly extra?: Readonly<Record<string, string>> | undefined;
}

/**
 * A minimal, clean environment: nothing of the agent's own environment leaks
 * into a workload. The request's variables win over these defaults.
 */
export function workloadEnv({ user, home, goCache, extra }: EnvironmentInputs): Record<string, string> {
  return {
    PATH: WORKLOAD_PATH,
    HOME: home,
    USER: user,
    LOGNAME: user,
    LANG: 'C.UTF-8',
    TMPDIR: path.join(home, 'tmp'),
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    GOCACHE: existsSync(goCache) ? goCache : path.join(home, '.cache', 'go-build'),
    GOPATH: path.join(home, 'go'),
    GOTOOLCHAIN: 'local',
    GOPROXY: 'off',
    GOTELEMETRY: 'off',
    GOFLAGS: '-buildvcs=false',
    CGO_ENABLED: '0',
    ...extra,
  };
}
