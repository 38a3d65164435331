/**
 * The agent's own log: one readable line per event on stderr (the console, ttyS0,
 * in the VM). Never writes to a connection.
 */
/** `notice` is never silenced: readiness and shutdown lines. */
export type LogLevel = 'info' | 'notice' | 'warn' | 'error';

let quiet = false;

/** Silences info lines (tests and benchmarks start many agents). */
export function setQuiet(value: boolean): void {
  quiet = value;
}

export function log(level: LogLevel, message: string): void {
  if (quiet && level === 'info') return;
  const uptime = process.uptime().toFixed(3).padStart(9);
  const tag = level === 'warn' || level === 'error' ? `${level.toUpperCase()}: ` : '';
  process.stderr.write(`[${uptime}] vulcan-guest ${tag}${message}\n`);
}
