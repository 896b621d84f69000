/**
 * Matmul throughput: GFLOP/s of square `n x n x n` products for both kernel variants, plain
 * (`a @ b`) and with `transB` (`a @ bᵀ`, the layout of `linear`).
 *
 * Method: one warm-up product (pipeline compile) read back, then `R` products recorded into one
 * submission followed by a single 4-byte readback, timed with `performance.now()`; the best of
 * three such batches is reported. `R` is chosen so that the products take much longer than the
 * ~11 ms synchronisation floor of Deno's WebGPU (and at most ~3 s for slow cases). Run as a
 * script to print the adapter and the results:
 *
 * ```sh
 * deno run --allow-env=LP_NUM_THREADS bench/matmul.ts            # sizes 256 512 1024
 * deno run --allow-env=LP_NUM_THREADS bench/matmul.ts 128 256   # other sizes
 * ```
 *
 * @module
 */

import { type Gpu, initGpu, type KernelVariant } from "../src/gpu/device.ts";
import { matmul } from "../src/ops/matmul.ts";
import { tensor } from "../src/tensor.ts";
import { bestMsPerCall } from "./_timing.ts";

const VARIANTS: KernelVariant[] = ["fallback", "tiled"];
/** Work per timed batch, so that the sync floor stays below a few percent. */
const FLOP_PER_BATCH = 3e9;
/** Timed batches per case; the best one is reported (the machine may be shared). */
const TRIALS = 3;

function data(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/**
 * Measures matmul throughput on `gpu`.
 *
 * @param gpu the device to measure.
 * @param sizes square sizes `n` (each product is `n x n` times `n x n`).
 * @param options `variants` to time (default both) and timed batches per case (`trials`,
 *   default 3; the best is kept).
 * @returns GFLOP/s by key `"<variant> <n>"` for `a @ b` and `"<variant> <n> transB"` for
 * `a @ bᵀ`, counting `2 n³` FLOP per product.
 * @example
 * ```ts ignore
 * const gpu = await initGpu();
 * console.log(await benchMatmul(gpu, [256]));
 * ```
 */
export async function benchMatmul(
  gpu: Gpu,
  sizes: readonly number[] = [256, 512, 1024],
  { variants = VARIANTS, trials = TRIALS }: {
    variants?: readonly KernelVariant[];
    trials?: number;
  } = {},
): Promise<Record<string, number>> {
  const results: Record<string, number> = {};
  for (const n of sizes) {
    const a = tensor(data(n * n, 1), [n, n], { gpu });
    const b = tensor(data(n * n, 2), [n, n], { gpu });
    const flop = 2 * n ** 3;
    for (const variant of variants) {
      for (const transB of [false, true]) {
        const run = () => matmul(a, b, { transB, variant });
        // The probe sizes the batch so a slow variant does not run for minutes.
        const ms = await bestMsPerCall(gpu, run, {
          reps: (once) =>
            Math.max(2, Math.min(Math.ceil(FLOP_PER_BATCH / flop), Math.ceil(3000 / once))),
          trials,
        });
        const best = flop / ms / 1e6;
        results[`${variant} ${n}${transB ? " transB" : ""}`] = best;
      }
    }
    a.dispose();
    b.dispose();
  }
  return results;
}

if (import.meta.main) {
  const gpu = await initGpu();
  const sizes = Deno.args.length > 0 ? Deno.args.map(Number) : undefined;
  console.log(`adapter: ${gpu.adapterName}`);
  const results = await benchMatmul(gpu, sizes);
  for (const [key, gflops] of Object.entries(results)) {
    console.log(`${key.padEnd(24)} ${gflops.toFixed(2).padStart(8)} GFLOP/s`);
  }
  gpu.destroy();
}
