import {
  CONFIG_ENV,
  DEFAULT_CONFIG,
  DEFAULT_MEM_MB,
  DEFAULT_VCPUS,
  DEFAULT_VSOCK_PORT,
  GUEST_AGENT_PATH,
  GUEST_WORK_DIR,
  loadConfig,
  MAX_FRAME_BYTES,
  MIN_CID,
  ROOTFS_FILENAME,
  rootfsPath,
  SUPPORTED_RUNTIMES,
  VulcanError,
} from '@vulcan/shared';
import { describe, expect, test } from 'vitest';

describe('constants', () => {
  test('match the seed task', () => {
    expect(DEFAULT_VSOCK_PORT).toBe(1024);
    expect(MIN_CID).toBe(3);
    expect(DEFAULT_VCPUS).toBe(1);
    expect(DEFAULT_MEM_MB).toBe(128);
    expect(SUPPORTED_RUNTIMES).toEqual(['go', 'node', 'python']);
    expect(ROOTFS_FILENAME).toBe('%s.ext4');
    expect(GUEST_WORK_DIR).toBe('/work');
    expect(GUEST_AGENT_PATH).toBe('/usr/local/bin/vulcan-guest');
    expect(MAX_FRAME_BYTES).toBe(16_777_216);
  });
});

describe('loadConfig', () => {
  test('applies every default when the environment is empty', () => {
    expect(loadConfig({})).toEqual(DEFAULT_CONFIG);
    expect(loadConfig({})).toMatchObject({
      vsockPort: 1024,
      cidBase: 3,
      jailerEnabled: false,
      defaultVcpus: 1,
      defaultMemMb: 128,
    });
  });

  test('treats empty and blank variables as unset', () => {
    expect(loadConfig({ VULCAN_FC_VSOCK_PORT: '', VULCAN_FC_JAILER: '  ', VULCAN_FC_BIN: '' })).toEqual(DEFAULT_CONFIG);
  });

  test.each([
    ['kernelPath', 'VULCAN_FC_KERNEL_PATH', '/k/vmlinux', '/k/vmlinux'],
    ['rootfsDir', 'VULCAN_FC_ROOTFS_DIR', '/images', '/images'],
    ['firecrackerBin', 'VULCAN_FC_BIN', '/usr/bin/firecracker', '/usr/bin/firecracker'],
    ['cniConfigDir', 'VULCAN_FC_CNI_CONFIG_DIR', '/cni/conf', '/cni/conf'],
    ['cniBinDir', 'VULCAN_FC_CNI_BIN_DIR', '/cni/bin', '/cni/bin'],
    ['vsockPort', 'VULCAN_FC_VSOCK_PORT', '52', 52],
    ['vsockPort', 'VULCAN_FC_VSOCK_PORT', '4294967295', 4294967295],
    ['jailerEnabled', 'VULCAN_FC_JAILER', 'true', true],
    ['jailerEnabled', 'VULCAN_FC_JAILER', 'YES', true],
    ['jailerEnabled', 'VULCAN_FC_JAILER', '1', true],
    ['jailerEnabled', 'VULCAN_FC_JAILER', 'off', false],
    ['jailerEnabled', 'VULCAN_FC_JAILER', 'False', false],
  ] as const)('%s from %s=%s', (field, name, value, expected) => {
    expect(CONFIG_ENV[field as keyof typeof CONFIG_ENV]).toBe(name);
    const config = loadConfig({ [name]: value });
    expect(config[field]).toBe(expected);
    expect({ ...config, [field]: DEFAULT_CONFIG[field] }).toEqual(DEFAULT_CONFIG);
  });

  test.each([
    ['VULCAN_FC_VSOCK_PORT', '0'],
    ['VULCAN_FC_VSOCK_PORT', '-1'],
    ['VULCAN_FC_VSOCK_PORT', '4294967296'],
    ['VULCAN_FC_VSOCK_PORT', '10.5'],
    ['VULCAN_FC_VSOCK_PORT', '0x400'],
    ['VULCAN_FC_VSOCK_PORT', '1e3'],
    ['VULCAN_FC_VSOCK_PORT', 'port'],
    ['VULCAN_FC_JAILER', 'maybe'],
    ['VULCAN_FC_JAILER', '2'],
    ['VULCAN_FC_JAILER', 'enabled'],
  ])('rejects %s=%s naming the variable and the value', (name, value) => {
    let caught: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(VulcanError);
    const error = caught as VulcanError;
    expect(error.code).toBe('E_CONFIG');
    expect(error.field).toBe(name);
    expect(error.message).toContain(name);
    expect(error.message).toContain(JSON.stringify(value));
  });
});

describe('rootfsPath', () => {
  test.each(SUPPORTED_RUNTIMES)('maps %s to <dir>/%s.ext4', (runtime) => {
    expect(rootfsPath('/var/lib/images', runtime)).toBe(`/var/lib/images/${runtime}.ext4`);
  });

  test.each(['ruby', '', 'Python', '../go'])('rejects %j listing the supported runtimes', (runtime) => {
    expect(() => rootfsPath('/images', runtime)).toThrowError(
      expect.objectContaining({ code: 'E_UNSUPPORTED_RUNTIME', message: expect.stringContaining('go, node, python') }),
    );
  });
});
