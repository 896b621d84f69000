/**
 * Shared timing loop of the kernel benchmarks: a warm-up call (pipeline compile) read back, one
 * probe call timed to size the batch, then `trials` batches of calls recorded into one
 * submission, each ended by a single 4-byte readback; returns the best milliseconds per call.
 *
 * @module
 */

import type { Gpu } from "../src/gpu/device.ts";
import type { Tensor } from "../src/tensor.ts";

/**
 * Best milliseconds per call of `run` over `trials` batches.
 *
 * @param run records one call and returns its output (disposed here).
 * @param reps calls per batch, given the probe call's milliseconds (which include one sync).
 */
export async function bestMsPerCall(
  gpu: Gpu,
  run: () => Tensor,
  { reps, trials = 3 }: { reps: (probeMs: number) => number; trials?: number },
): Promise<number> {
  const warm = run();
  await warm.read();
  warm.dispose();
  let t0 = performance.now();
  const probe = run();
  await probe.read();
  probe.dispose();
  const n = reps(performance.now() - t0);
  let best = Infinity;
  for (let trial = 0; trial < trials; trial++) {
    t0 = performance.now();
    let last = run();
    for (let r = 1; r < n; r++) {
      last.dispose(); // reusing its buffer in the same submission is safe
      last = run();
    }
    await gpu.readBuffer(last.buffer, 0, 4);
    last.dispose();
    best = Math.min(best, (performance.now() - t0) / n);
  }
  return best;
}
