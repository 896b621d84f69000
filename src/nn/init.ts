/**
 * Weight initialisation as PyTorch does it by default, from a seeded generator.
 *
 * `torch.nn.Linear` and `torch.nn.Conv2d` call `kaiming_uniform_(weight, a=sqrt(5))`, which
 * draws from U(-b, b) with b = gain · sqrt(3 / fan_in) and gain = sqrt(2 / (1 + a²)), so
 * b = 1 / sqrt(fan_in); biases draw from U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The distribution
 * is torch's; the random stream is this library's (Philox), so values differ from torch's.
 *
 * @module
 */

import { Generator } from "../rng.ts";

let generator = new Generator(0, 0x1417);

/**
 * Seeds the generator that initialises new layers (like `torch.manual_seed`). The default
 * seed is 0, so models are reproducible without calling it.
 *
 * @example
 * ```ts
 * import { manualSeed } from "./init.ts";
 * manualSeed(42);
 * ```
 */
export function manualSeed(seed: number): void {
  generator = new Generator(seed, 0x1417);
}

/** `n` values from U(-bound, bound) drawn from the init generator. */
export function uniformInit(n: number, bound: number): Float32Array {
  return generator.uniforms(n, -bound, bound);
}

/** PyTorch's default bound for a layer with `fanIn` inputs per output: `1 / sqrt(fanIn)`. */
export function defaultBound(fanIn: number): number {
  return fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
}
