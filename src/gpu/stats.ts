/**
 * Counters kept by every {@linkcode Gpu}, so tests and benchmarks can assert what a step did:
 * "no readback inside a step", "no leak after 100 forward passes", "one submit per step".
 *
 * All counters are cumulative since the device was created; take a {@linkcode snapshot} before
 * and {@linkcode diffStats} after the code under test.
 *
 * @module
 */

/** A point-in-time copy of the runtime counters. */
export interface StatsSnapshot {
  /** Compute dispatches recorded. */
  dispatches: number;
  /** Command buffers submitted to the queue. */
  submits: number;
  /** GPU→CPU readbacks (each one waits on the GPU, ~11 ms on the software adapter). */
  readbacks: number;
  /** CPU→GPU writes of user data (`queue.writeBuffer` of tensor contents). */
  uploads: number;
  /** Buffer-to-buffer copies recorded. */
  copies: number;
  /** Pipelines compiled (cache misses). */
  pipelinesCompiled: number;
  /** Bind groups created (cache misses; a steady loop reuses its bind groups). */
  bindGroupsCreated: number;
  /** Bytes held by live tensors and other acquired pool buffers. */
  bytesInUse: number;
  /** Largest `bytesInUse` seen so far. */
  peakBytesInUse: number;
  /** Bytes of GPU buffers alive, in use or free in the pool. */
  bytesAllocated: number;
  /** GPU buffers created from the device (pool misses). */
  buffersCreated: number;
}

/** Mutable counters owned by a {@linkcode Gpu}; read them through {@linkcode Stats.snapshot}. */
export class Stats implements StatsSnapshot {
  /** Compute dispatches recorded. */
  dispatches = 0;
  /** Command buffers submitted to the queue. */
  submits = 0;
  /** GPU→CPU readbacks. */
  readbacks = 0;
  /** CPU→GPU writes of user data. */
  uploads = 0;
  /** Buffer-to-buffer copies recorded. */
  copies = 0;
  /** Pipelines compiled (cache misses). */
  pipelinesCompiled = 0;
  /** Bind groups created (cache misses). */
  bindGroupsCreated = 0;
  /** Bytes held by live tensors and other acquired pool buffers. */
  bytesInUse = 0;
  /** Largest `bytesInUse` seen so far. */
  peakBytesInUse = 0;
  /** Bytes of GPU buffers alive, in use or free in the pool. */
  bytesAllocated = 0;
  /** GPU buffers created from the device (pool misses). */
  buffersCreated = 0;

  /** Restarts the peak from the bytes in use now, to measure the peak of one workload. */
  resetPeak(): void {
    this.peakBytesInUse = this.bytesInUse;
  }

  /** Returns a frozen copy of the counters. */
  snapshot(): StatsSnapshot {
    return Object.freeze({
      dispatches: this.dispatches,
      submits: this.submits,
      readbacks: this.readbacks,
      uploads: this.uploads,
      copies: this.copies,
      pipelinesCompiled: this.pipelinesCompiled,
      bindGroupsCreated: this.bindGroupsCreated,
      bytesInUse: this.bytesInUse,
      peakBytesInUse: this.peakBytesInUse,
      bytesAllocated: this.bytesAllocated,
      buffersCreated: this.buffersCreated,
    });
  }
}

/**
 * The change of every counter between two snapshots (`after - before`).
 *
 * @example
 * ```ts ignore
 * const before = gpu.stats.snapshot();
 * optimizer.step(closure);
 * const d = diffStats(before, gpu.stats.snapshot());
 * console.log(d.readbacks); // 0
 * ```
 */
export function diffStats(before: StatsSnapshot, after: StatsSnapshot): StatsSnapshot {
  const out: Record<string, number> = {};
  for (const key of Object.keys(after) as (keyof StatsSnapshot)[]) {
    out[key] = after[key] - before[key];
  }
  return out as unknown as StatsSnapshot;
}
