/** Project version, injected by the bundler from package.json; "dev" when run from source. */
declare const __VULCAN_VERSION__: string | undefined;

export const AGENT_VERSION: string = typeof __VULCAN_VERSION__ === 'string' ? __VULCAN_VERSION__ : 'dev';

/** `--version` text: the project version and the Node it runs on (the embedded one in the binary). */
export function versionText(): string {
  return `vulcan-guest ${AGENT_VERSION} (node ${process.version})`;
}
