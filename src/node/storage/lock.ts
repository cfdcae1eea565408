/**
 * A per-key async mutex: callers holding the same key run one after another, in call order;
 * different keys run concurrently. Serialises writers of one record within this process (other
 * processes are kept consistent by atomic rename and exclusive link, not by this lock).
 * @module
 */
/** What a per-key mutex offers: run `fn` while no other holder of `key` runs. */
export interface ScopeLock {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

export class KeyedLock implements ScopeLock {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    try {
      await previous;
      return await fn();
    } finally {
      release();
      // The last holder removes the entry, so the map does not grow with every id ever written.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Keys with a holder or waiters (for tests). */
  get size(): number {
    return this.#tails.size;
  }
}
