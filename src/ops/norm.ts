/**
 * `sumSquares`: Σ x² over a run of a GPU buffer, written into another buffer on the GPU, for
 * the global norms optimizers need (ClipUp's gradient and velocity, sep-CMA's evolution path)
 * without a readback.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { KernelSpec } from "../gpu/kernel.ts";
import { ceilDiv } from "./_util.ts";
import code from "../../shaders/norm.wgsl" with { type: "text" };

const WG = 64;
const CHUNK = 256;

const PARTIAL: KernelSpec = {
  file: "shaders/norm.wgsl",
  code,
  entryPoint: "partial",
  storage: ["read", "write", "write"],
};
const TOTAL: KernelSpec = { ...PARTIAL, entryPoint: "total" };

/**
 * Records `out[outAt] = (accumulate ? out[outAt] : 0) + Σ_{j < count} x[off + j]²`: two
 * dispatches (chunk sums, then their total).
 *
 * @param x the values.
 * @param off first element.
 * @param count number of elements (≥ 0).
 * @param out where the sum goes (element `outAt`).
 * @param accumulate add to the value already there (several runs into one norm).
 */
export function sumSquares(
  gpu: Gpu,
  x: GPUBuffer,
  off: number,
  count: number,
  out: GPUBuffer,
  outAt: number,
  accumulate = false,
): void {
  const chunks = Math.max(1, ceilDiv(count, CHUNK));
  const part = gpu.pool.acquire(chunks * 4, "sumSquares partial sums");
  const values = { off, count, chunks, outAt, accumulate: accumulate ? 1 : 0 };
  gpu.dispatch(gpu.kernel(PARTIAL, { WG, CHUNK }), [x, part, out], values, [
    ceilDiv(chunks, WG),
  ]);
  gpu.dispatch(gpu.kernel(TOTAL, { WG, CHUNK }), [x, part, out], values, [1]);
  gpu.pool.release(part);
}
