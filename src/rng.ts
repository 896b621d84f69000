/**
 * Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
 * as 1, 2, 3", SC 2011), the same generator cuRAND and PyTorch's CUDA backend use.
 *
 * `philox(seed, stream, c0, c1, c2, c3)` maps a 64-bit key `(seed, stream)` and a 128-bit counter
 * to four u32 words; it is a pure function, so any value can be regenerated from its
 * coordinates. This file is the bit-exact CPU twin of `shaders/random.wgsl` and the source of
 * the CPU-side {@linkcode Generator} (weight init, data shuffling).
 *
 * Element `j` of population row `row` at draw `counter` uses counter
 * `(j >> 2, row, counter, 0)` and lane `j & 3`; see {@linkcode randomBitsAt}.
 *
 * @module
 */

const M0 = 0xD2511F53;
const M1 = 0xCD9E8D57;
const W0 = 0x9E3779B9;
const W1 = 0xBB67AE85;

/** High 32 bits of the 64-bit product of two u32 values. */
export function mulhi32(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (p11 + Math.floor(p01 / 65536) + Math.floor(p10 / 65536) + Math.floor(mid / 65536)) >>> 0;
}

/**
 * Philox4x32-10: four u32 words for key `(seed, stream)` and counter `(c0, c1, c2, c3)`.
 * All inputs are taken modulo 2^32.
 */
export function philox(
  seed: number,
  stream: number,
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  let k0 = seed >>> 0, k1 = stream >>> 0;
  let x0 = c0 >>> 0, x1 = c1 >>> 0, x2 = c2 >>> 0, x3 = c3 >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi32(M0, x0), lo0 = Math.imul(M0, x0) >>> 0;
    const hi1 = mulhi32(M1, x2), lo1 = Math.imul(M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ k0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ k1) >>> 0;
    x3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
  return out;
}

/** Coordinates of one random value. */
export interface RandomCoords {
  /** Key word 0. */
  seed: number;
  /** Key word 1: separates independent uses of the same seed. */
  stream: number;
  /** Draw index (e.g. the optimizer step). */
  counter: number;
  /** Population row. */
  row: number;
}

const scratch = new Uint32Array(4);

/** The u32 at element `j` of the given coordinates (what the GPU `bits` kernel writes). */
export function randomBitsAt(c: RandomCoords, j: number): number {
  return philox(c.seed, c.stream, j >>> 2, c.row, c.counter, 0, scratch)[j & 3];
}

/** u32 → uniform float in [0, 1) with 24 bits, exactly as the WGSL twin computes it. */
export function toUniform(bits: number): number {
  return (bits >>> 8) * 5.9604644775390625e-8;
}

/** u32 → uniform float in (0, 1], for logarithms. */
export function toUniformOpen(bits: number): number {
  return ((bits >>> 8) + 1) * 5.9604644775390625e-8;
}

/**
 * Standard normal at element `j`: Box–Muller on the lane pair `(j & ~1, j | 1)` of the same
 * Philox block, cosine for even `j`, sine for odd. Matches the GPU to float rounding.
 */
export function randomNormalAt(c: RandomCoords, j: number): number {
  const w = philox(c.seed, c.stream, j >>> 2, c.row, c.counter, 0, scratch);
  const pair = j & 2;
  const radius = Math.sqrt(-2 * Math.log(toUniformOpen(w[pair])));
  const angle = 2 * Math.PI * toUniform(w[pair + 1]);
  return Math.fround(radius * ((j & 1) === 0 ? Math.cos(angle) : Math.sin(angle)));
}

/** Uniform in [0, 1) at element `j`. */
export function randomUniformAt(c: RandomCoords, j: number): number {
  return toUniform(randomBitsAt(c, j));
}

/** ±1 with probability 1/2 at element `j` (the top bit). */
export function randomRademacherAt(c: RandomCoords, j: number): number {
  return (randomBitsAt(c, j) >>> 31) === 0 ? -1 : 1;
}

/**
 * A sequential CPU random generator on Philox (key `(seed, stream)`, counter = draw index).
 * Used for weight initialisation, data shuffling and test data; reproducible across platforms.
 *
 * @example
 * ```ts
 * import { Generator } from "./rng.ts";
 * const g = new Generator(42);
 * const u = g.uniform(); // in [0, 1)
 * ```
 */
export class Generator {
  /** Philox key word 0, as a u32. */
  readonly seed: number;
  /** Philox key word 1, as a u32: independent streams for the same seed. */
  readonly stream: number;
  #counter = 0;
  #block = new Uint32Array(4);
  #lane = 4;
  #spare: number | null = null;

  /**
   * Creates a generator at draw 0 of the stream `(seed, stream)`.
   *
   * @param seed key word 0 (truncated to a u32).
   * @param stream key word 1 (truncated to a u32). Default 0.
   */
  constructor(seed: number, stream = 0) {
    this.seed = seed >>> 0;
    this.stream = stream >>> 0;
  }

  /** Next raw u32. */
  nextU32(): number {
    if (this.#lane === 4) {
      philox(
        this.seed,
        this.stream,
        this.#counter,
        Math.floor(this.#counter / 2 ** 32),
        0,
        0,
        this.#block,
      );
      this.#counter++;
      this.#lane = 0;
    }
    return this.#block[this.#lane++];
  }

  /** Uniform in [0, 1) (53 random bits). */
  uniform(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }

  /** Uniform in [lo, hi). */
  uniformIn(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Standard normal (Box–Muller, pairs cached). */
  normal(): number {
    if (this.#spare !== null) {
      const z = this.#spare;
      this.#spare = null;
      return z;
    }
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.#spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Fisher–Yates shuffle in place; returns `array`. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** `n` standard normals as a Float32Array. */
  normals(n: number, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }

  /** `n` uniforms in [lo, hi) as a Float32Array. */
  uniforms(n: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniformIn(lo, hi);
    return out;
  }
}
