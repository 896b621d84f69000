// Shared test helpers: tolerance checks with a useful message, seeded data, leak checks.

import assert from "node:assert/strict";
import { type Gpu, initGpu } from "../src/gpu/device.ts";
import { Generator } from "../src/rng.ts";

/** The process-wide device every test file shares. */
export const gpu: Gpu = await initGpu();

/** Tolerances for {@linkcode assertClose}: |a - e| <= atol + rtol * |e|. */
export interface Tolerance {
  rtol?: number;
  atol?: number;
}

/**
 * Asserts two arrays are element-wise close; NaN matches NaN and infinities must be equal.
 * The message names the first bad index and the largest error.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-5, atol = 1e-6 }: Tolerance = {},
  label = "",
): void {
  assert.equal(
    actual.length,
    expected.length,
    `${label} length ${actual.length} vs ${expected.length}`,
  );
  let worst = -1;
  let worstErr = 0;
  let bad = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e))) bad = bad < 0 ? i : bad;
      continue;
    }
    const err = Math.abs(a - e);
    if (!(err <= atol + rtol * Math.abs(e))) bad = bad < 0 ? i : bad;
    if (!(err <= worstErr)) {
      worstErr = err;
      worst = i;
    }
  }
  if (bad >= 0) {
    assert.fail(
      `${label} mismatch at ${bad}: got ${actual[bad]}, expected ${expected[bad]} ` +
        `(worst |err| ${worstErr} at ${worst}; rtol ${rtol}, atol ${atol})`,
    );
  }
}

/** `n` seeded uniform values in [lo, hi). */
export function uniformData(seed: number, n: number, lo = -1, hi = 1): Float32Array {
  return new Generator(seed, 7).uniforms(n, lo, hi);
}

/** `n` seeded standard normals. */
export function normalData(seed: number, n: number): Float32Array {
  return new Generator(seed, 9).normals(n);
}

/** Runs `fn` and asserts the pool's bytes in use are the same afterwards. */
export async function assertNoLeak(
  device: Gpu,
  fn: () => unknown | Promise<unknown>,
): Promise<void> {
  const before = device.stats.bytesInUse;
  await fn();
  assert.equal(device.stats.bytesInUse, before, "bytes in use changed: a tensor was not disposed");
}

export { assert };
