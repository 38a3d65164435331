import path from 'node:path';
import {
  DEFAULT_MEM_MB,
  DEFAULT_VCPUS,
  DEFAULT_VSOCK_PORT,
  isRuntime,
  MIN_CID,
  ROOTFS_FILENAME,
  SUPPORTED_RUNTIMES,
} from './constants.js';
import { VulcanError } from './errors.js';

/** Where a Firecracker host finds its pieces, and the VM shape it boots (seed task 4-1). */
export interface Config {
  /** Uncompressed guest kernel (vmlinux). Env: VULCAN_FC_KERNEL_PATH. */
  readonly kernelPath: string;
  /** Directory holding `<runtime>.ext4` images. Env: VULCAN_FC_ROOTFS_DIR. */
  readonly rootfsDir: string;
  /** Firecracker binary (a bare name is looked up on PATH). Env: VULCAN_FC_BIN. */
  readonly firecrackerBin: string;
  /** CNI network configuration directory. Env: VULCAN_FC_CNI_CONFIG_DIR. */
  readonly cniConfigDir: string;
  /** CNI plugin binaries directory. Env: VULCAN_FC_CNI_BIN_DIR. */
  readonly cniBinDir: string;
  /** Guest port the agent listens on. Env: VULCAN_FC_VSOCK_PORT (1..2^32-1). */
  readonly vsockPort: number;
  /** First guest CID handed out; 0–2 are reserved. Not configurable by env. */
  readonly cidBase: number;
  /** Start Firecracker through its jailer. Env: VULCAN_FC_JAILER (a boolean word). */
  readonly jailerEnabled: boolean;
  /** vCPUs per microVM. Not configurable by env. */
  readonly defaultVcpus: number;
  /** Memory per microVM in MiB. Not configurable by env. */
  readonly defaultMemMb: number;
}

/** The defaults `loadConfig` applies where a variable is unset or empty. */
export const DEFAULT_CONFIG: Readonly<Config> = Object.freeze({
  kernelPath: '/var/lib/vulcan/firecracker/vmlinux',
  rootfsDir: '/var/lib/vulcan/firecracker/rootfs',
  firecrackerBin: 'firecracker',
  cniConfigDir: '/etc/cni/net.d',
  cniBinDir: '/opt/cni/bin',
  vsockPort: DEFAULT_VSOCK_PORT,
  cidBase: MIN_CID,
  jailerEnabled: false,
  defaultVcpus: DEFAULT_VCPUS,
  defaultMemMb: DEFAULT_MEM_MB,
});

/** Environment variable names, one per configurable field. */
export const CONFIG_ENV = Object.freeze({
  kernelPath: 'VULCAN_FC_KERNEL_PATH',
  rootfsDir: 'VULCAN_FC_ROOTFS_DIR',
  firecrackerBin: 'VULCAN_FC_BIN',
  cniConfigDir: 'VULCAN_FC_CNI_CONFIG_DIR',
  cniBinDir: 'VULCAN_FC_CNI_BIN_DIR',
  vsockPort: 'VULCAN_FC_VSOCK_PORT',
  jailerEnabled: 'VULCAN_FC_JAILER',
} as const);

const MAX_PORT = 2 ** 32 - 1;
const TRUE_WORDS = new Set(['1', 't', 'true', 'yes', 'y', 'on']);
const FALSE_WORDS = new Set(['0', 'f', 'false', 'no', 'n', 'off']);

function configError(name: string, value: string, expected: string): VulcanError {
  return new VulcanError('E_CONFIG', `${name}=${JSON.stringify(value)}: expected ${expected}`, {
    field: name,
  });
}

/** Parses a port: decimal digits only, 1..2^32-1 (vsock ports are 32-bit). */
export function parsePort(name: string, value: string): number {
  const text = value.trim();
  const port = /^[0-9]{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) {
    throw configError(name, value, `an integer port in 1..${MAX_PORT}`);
  }
  return port;
}

/** Parses a boolean word (Go's strconv.ParseBool set plus yes/no/on/off), case-insensitively. */
export function parseBooleanWord(name: string, value: string): boolean {
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw configError(name, value, 'a boolean word (true/false, 1/0, yes/no, on/off)');
}

/**
 * Builds the host configuration from the environment. Unset or empty variables
 * take the defaults; a set variable with an unusable value throws E_CONFIG
 * naming the variable and the value — it is never silently ignored.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const text = (key: keyof typeof CONFIG_ENV): string | undefined => {
    const value = env[CONFIG_ENV[key]];
    return value === undefined || value.trim() === '' ? undefined : value;
  };
  const port = text('vsockPort');
  const jailer = text('jailerEnabled');
  return Object.freeze({
    ...DEFAULT_CONFIG,
    kernelPath: text('kernelPath') ?? DEFAULT_CONFIG.kernelPath,
    rootfsDir: text('rootfsDir') ?? DEFAULT_CONFIG.rootfsDir,
    firecrackerBin: text('firecrackerBin') ?? DEFAULT_CONFIG.firecrackerBin,
    cniConfigDir: text('cniConfigDir') ?? DEFAULT_CONFIG.cniConfigDir,
    cniBinDir: text('cniBinDir') ?? DEFAULT_CONFIG.cniBinDir,
    vsockPort: port === undefined ? DEFAULT_CONFIG.vsockPort : parsePort(CONFIG_ENV.vsockPort, port),
    jailerEnabled:
      jailer === undefined ? DEFAULT_CONFIG.jailerEnabled : parseBooleanWord(CONFIG_ENV.jailerEnabled, jailer),
  });
}

/** Resolves a runtime to its image: `<rootfsDir>/<runtime>.ext4`. Throws E_UNSUPPORTED_RUNTIME otherwise. */
export function rootfsPath(rootfsDir: string, runtime: string): string {
  if (!isRuntime(runtime)) {
    throw new VulcanError(
      'E_UNSUPPORTED_RUNTIME',
      `unsupported runtime ${JSON.stringify(runtime)}: supported runtimes are ${SUPPORTED_RUNTIMES.join(', ')}`,
      { field: 'runtime' },
    );
  }
  return path.join(rootfsDir, ROOTFS_FILENAME.replace('%s', runtime));
}
