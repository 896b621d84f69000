/**
 * Conv2d throughput on the three convolutions of the MNIST CNN (spec §2.2, batch 32): for both
 * kernel variants, one parameter row (P = 1) and a population of P = 20 rows evaluated in one
 * dispatch.
 *
 * | layer | input         | weight           | output        | MFLOP per row |
 * |-------|---------------|------------------|---------------|---------------|
 * | conv1 | 32×1×28×28    | 16×1×4×4         | 32×16×25×25   | 10.2          |
 * | conv2 | 32×16×12×12   | 32×16×3×3        | 32×32×10×10   | 29.5          |
 * | conv3 | 32×32×5×5     | 64×32×2×2        | 32×64×4×4     | 8.4           |
 *
 * With P > 1 the weights and bias are strided population views of one flat buffer (nonzero
 * offset, row stride larger than the parameter), as the model's parameters are; conv1 reads
 * the shared data batch, conv2 and conv3 read population activations `[P, 32, C, H, W]`.
 *
 * Method: one warm-up call (pipeline compile) read back, then `R` calls recorded into one
 * submission followed by a single 4-byte readback, timed with `performance.now()`; the best of
 * three such batches is reported. `R` is chosen so a batch lasts ~0.5 s, far above the ~11 ms
 * synchronisation floor of Deno's WebGPU. The fallback timings include its weight-packing
 * dispatch. Each layer is also timed as the network runs it, conv → max-pool 2 → ReLU, fused into
 * the convolution (`{ maxPool: 2, relu: true }`; GFLOP/s still count the convolution only).
 * Run as a script to print the adapter and the results:
 *
 * ```sh
 * deno run --allow-env=LP_NUM_THREADS bench/conv2d.ts
 * ```
 *
 * @module
 */

import { type Gpu, initGpu, type KernelVariant } from "../src/gpu/device.ts";
import { conv2d } from "../src/ops/conv2d.ts";
import { Tensor, tensor } from "../src/tensor.ts";
import { bestMsPerCall } from "./_timing.ts";

const MODES: [KernelVariant, boolean][] = [
  ["fallback", false],
  ["fallback", true],
  ["tiled", false],
  ["tiled", true],
];
const POPULATIONS = [1, 20];
const BATCH = 32;
/** Target duration of one timed batch (ms). */
const BATCH_MS = 500;
const TRIALS = 3;

/** One convolution of the benchmark. */
export interface ConvLayer {
  name: string;
  cin: number;
  h: number;
  w: number;
  cout: number;
  k: number;
}

/** The three convolutions of the MNIST CNN. */
export const MNIST_CONVS: readonly ConvLayer[] = [
  { name: "conv1", cin: 1, h: 28, w: 28, cout: 16, k: 4 },
  { name: "conv2", cin: 16, h: 12, w: 12, cout: 32, k: 3 },
  { name: "conv3", cin: 32, h: 5, w: 5, cout: 64, k: 2 },
];

/** One measurement. */
export interface ConvResult {
  layer: string;
  variant: KernelVariant;
  /** True for conv → max-pool 2 → ReLU in one call. */
  fused: boolean;
  rows: number;
  /** Milliseconds per call (all rows). */
  ms: number;
  /** Useful FLOP (2 per multiply-add) per second, in units of 1e9. */
  gflops: number;
}

function data(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Operands of one layer: flat parameter buffer views when `rows > 1`. */
function operands(gpu: Gpu, layer: ConvLayer, rows: number): [Tensor, Tensor, Tensor, Tensor[]] {
  const { cin, h, w, cout, k } = layer;
  const xShape = [BATCH, cin, h, w];
  const wShape = [cout, cin, k, k];
  if (rows === 1) {
    const x = tensor(data(BATCH * cin * h * w, 1), xShape, { gpu });
    const wt = tensor(data(cout * cin * k * k, 2), wShape, { gpu });
    const b = tensor(data(cout, 3), [cout], { gpu });
    return [x, wt, b, [x, wt, b]];
  }
  const shared = layer.name === "conv1";
  const x = shared
    ? tensor(data(BATCH * cin * h * w, 1), xShape, { gpu })
    : tensor(data(rows * BATCH * cin * h * w, 1), [rows, ...xShape], { gpu, population: true });
  const wNumel = cout * cin * k * k;
  const stride = Math.ceil((wNumel + cout + 8) / 64) * 64;
  const flat = tensor(data(rows * stride, 2), [rows * stride], { gpu });
  const wt = Tensor.view(gpu, flat.buffer, [rows, ...wShape], {
    population: true,
    offset: 4,
    rowStride: stride,
  });
  const b = Tensor.view(gpu, flat.buffer, [rows, cout], {
    population: true,
    offset: 4 + wNumel,
    rowStride: stride,
  });
  return [x, wt, b, [x, flat, wt, b]];
}

/**
 * Times the MNIST convolutions on `gpu`.
 *
 * @param gpu the device to measure.
 * @param populations row counts to measure (default 1 and 20).
 * @returns one result per layer, variant and row count.
 * @example
 * ```ts ignore
 * const gpu = await initGpu();
 * for (const r of await benchConv(gpu)) console.log(r);
 * ```
 */
export async function benchConv(
  gpu: Gpu,
  populations: readonly number[] = POPULATIONS,
): Promise<ConvResult[]> {
  const results: ConvResult[] = [];
  for (const rows of populations) {
    for (const layer of MNIST_CONVS) {
      const [x, wt, b, owned] = operands(gpu, layer, rows);
      const ho = layer.h - layer.k + 1, wo = layer.w - layer.k + 1;
      const flop = 2 * rows * BATCH * layer.cout * ho * wo * layer.cin * layer.k * layer.k;
      for (const [variant, fused] of MODES) {
        const run = () =>
          conv2d(x, wt, b, fused ? { variant, maxPool: 2, relu: true } : { variant });
        const best = await bestMsPerCall(gpu, run, {
          reps: (once) => Math.max(2, Math.min(2000, Math.ceil(BATCH_MS / once))),
          trials: TRIALS,
        });
        results.push({
          layer: layer.name,
          variant,
          fused,
          rows,
          ms: best,
          gflops: flop / best / 1e6,
        });
      }
      for (const t of owned) t.dispose();
    }
  }
  return results;
}

if (import.meta.main) {
  const gpu = await initGpu();
  console.log(`adapter: ${gpu.adapterName}`);
  const results = await benchConv(gpu);
  for (const r of results) {
    console.log(
      `${r.layer} ${r.variant.padEnd(8)} ${r.fused ? "+pool+relu" : "          "} ` +
        `P=${String(r.rows).padEnd(3)} ` +
        `${r.ms.toFixed(2).padStart(8)} ms/call ${(r.ms / r.rows).toFixed(2).padStart(7)} ms/row ` +
        `${r.gflops.toFixed(2).padStart(7)} GFLOP/s`,
    );
  }
  gpu.destroy();
}
