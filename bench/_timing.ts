/**
 * Shared by the benchmarks: `median`, and the timing loop of the kernel benchmarks (a warm-up
 * call read back, probe batches of 1 and 8 calls whose difference sizes the timed batches
 * without the ~11 ms synchronisation floor, then `trials` batches of calls recorded into one
 * submission, each ended by a single 4-byte readback; the best milliseconds per call).
 *
 * @module
 */

import type { Gpu } from "../src/gpu/device.ts";
import type { Tensor } from "../src/tensor.ts";

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Milliseconds to record `n` calls of `run` and read the last output back. */
async function batchMs(gpu: Gpu, run: () => Tensor, n: number): Promise<number> {
  const t0 = performance.now();
  let last = run();
  for (let r = 1; r < n; r++) {
    last.dispose(); // reusing its buffer in the same submission is safe
    last = run();
  }
  await gpu.readBuffer(last.buffer, 0, 4);
  last.dispose();
  return performance.now() - t0;
}

/**
 * Best milliseconds per call of `run` over `trials` batches.
 *
 * @param run records one call and returns its output (disposed here).
 * @param reps calls per batch, given the probe's estimate of one call's milliseconds (the
 *   synchronisation floor excluded).
 */
export async function bestMsPerCall(
  gpu: Gpu,
  run: () => Tensor,
  { reps, trials = 3 }: { reps: (probeMs: number) => number; trials?: number },
): Promise<number> {
  const warm = run();
  await warm.read();
  warm.dispose();
  const one = await batchMs(gpu, run, 1);
  let estimate = one; // a slow call dwarfs the sync floor
  if (one < 100) {
    // The difference of two batches cancels the floor; an eighth of the mean bounds the noise.
    const eight = await batchMs(gpu, run, 8);
    estimate = Math.max((eight - one) / 7, eight / 64);
  }
  const n = reps(estimate);
  let best = Infinity;
  for (let trial = 0; trial < trials; trial++) {
    best = Math.min(best, (await batchMs(gpu, run, n)) / n);
  }
  return best;
}
