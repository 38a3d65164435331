import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Keeping the agent small while it streams hundreds of MB. The streaming path
 * allocates nothing outside the JS heap (output pipes are read into one buffer,
 * frames are written into reused chunks), but a little of every turn's garbage
 * survives two scavenges and is promoted, so the old generation creeps up
 * (~30 kB per scavenge) until V8 decides on a full GC — at ~20 MiB. A full GC
 * every few MB read keeps that in check; with the agent's small heap (a 1 MiB
 * semi-space, see agent/node-options.json) it takes ~4 ms. Measured on 100 MB
 * of output (Node 24): old space +3.4 MiB with it, +16.7 MiB without. With
 * Node's own pipes (the fallback, see run/pipes.ts) it also frees their read buffers.
 */
type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

let collect: GcFunction | null | undefined;

function gcFunction(): GcFunction | null {
  if (collect === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as GcFunction;
    } catch {
      collect = null;
    }
  }
  return collect;
}

/** Counts bytes read from a workload and collects garbage every `every` bytes. */
export class GarbageBudget {
  #since = 0;

  constructor(private readonly every: number) {}

  add(bytes: number): void {
    this.#since += bytes;
    if (this.#since < this.every) return;
    this.#since = 0;
    gcFunction()?.({ type: 'major' });
  }

  /**
   * Collects now if a sizeable part of a budget was read since the last collection: called
   * before the result is built, whose copies of the output (up to a few MiB) then reuse the
   * freed heap instead of growing it. A run with little output pays nothing.
   */
  settle(): void {
    if (this.#since < this.every / 4) return;
    this.#since = 0;
    gcFunction()?.({ type: 'major' });
  }
}
