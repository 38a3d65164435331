/**
 * One workload at a time: the work dir, the workload user and the VM's memory
 * are one per VM. Connections wait here in arrival order; a connection whose
 * host leaves while waiting gives up its turn.
 */
export class Slot {
  #tail: Promise<void> = Promise.resolve();
  #waiting = 0;

  get waiting(): number {
    return this.#waiting;
  }

  /** Resolves with a release function once every earlier holder has released. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => {
      release = resolve;
    });
    const previous = this.#tail;
    this.#tail = previous.then(() => turn);
    this.#waiting++;
    return previous.then(() => {
      this.#waiting--;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        release();
      };
    });
  }
}
