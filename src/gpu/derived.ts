/**
 * Buffers derived from other buffers (weights repacked for a kernel, say), kept between calls
 * and rebuilt only when their source has been written since.
 *
 * {@linkcode Gpu} stamps every buffer it records a write to (a dispatch binding it read-write, a
 * copy into it, an upload) with a clock that increases in recording order; a derived buffer
 * remembers the clock of its build. Because stamps follow recording order, a rebuild recorded
 * after a write runs after it on the GPU too, and a reuse never sees stale data. A source that
 * goes back to the pool takes its derived buffers with it.
 *
 * @module
 */

import type { BufferPool } from "./pool.ts";

/** Derived buffers kept per source: enough for every layer of a model at a few row counts. */
const MAX_PER_SOURCE = 32;

interface Entry {
  buffer: GPUBuffer;
  /** Clock of the build. */
  built: number;
}

/** The write clock and the derived buffers of one device. */
export class DerivedBuffers {
  readonly #pool: BufferPool;
  readonly #written = new WeakMap<GPUBuffer, number>();
  readonly #entries = new Map<GPUBuffer, Map<string, Entry>>();
  #clock = 0;

  /** @param pool where derived buffers come from and go back to. */
  constructor(pool: BufferPool) {
    this.#pool = pool;
  }

  /** Records that work writing `buffer` was recorded now. */
  wrote(buffer: GPUBuffer): void {
    this.#written.set(buffer, ++this.#clock);
  }

  /**
   * The buffer derived from `source` under `key` (`bytes` long; the key must determine the
   * size), built by `build` on first use and again after any write to `source`.
   */
  get(
    source: GPUBuffer,
    key: string,
    bytes: number,
    build: (target: GPUBuffer) => void,
  ): GPUBuffer {
    let bySource = this.#entries.get(source);
    if (bySource === undefined) {
      bySource = new Map();
      this.#entries.set(source, bySource);
    }
    let entry = bySource.get(key);
    if (entry !== undefined) {
      bySource.delete(key); // re-inserted below: the map's order is least recently used first
      if ((this.#written.get(source) ?? 0) < entry.built) {
        bySource.set(key, entry);
        return entry.buffer;
      }
    } else {
      if (bySource.size >= MAX_PER_SOURCE) {
        const [oldest, old] = bySource.entries().next().value!;
        bySource.delete(oldest);
        this.#pool.release(old.buffer);
      }
      entry = { buffer: this.#pool.acquire(bytes, "derived"), built: 0 };
    }
    // Kept before the build: if it throws, the buffer still goes back with the source, and
    // `built` 0 means the next call builds again.
    entry.built = 0;
    bySource.set(key, entry);
    build(entry.buffer);
    entry.built = ++this.#clock;
    return entry.buffer;
  }

  /** Releases the buffers derived from `source` (called when it goes back to the pool). */
  drop(source: GPUBuffer): void {
    const bySource = this.#entries.get(source);
    if (bySource === undefined) return;
    this.#entries.delete(source);
    for (const entry of bySource.values()) this.#pool.release(entry.buffer);
  }

  /** Forgets every entry without releasing (the device is being destroyed). */
  clear(): void {
    this.#entries.clear();
  }
}
