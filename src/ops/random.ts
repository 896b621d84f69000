/**
 * Random fills on the GPU (`shaders/random.wgsl`): raw bits, uniform, normal and Rademacher
 * values from the counter-based generator Philox4x32-10, one dispatch for every population
 * row.
 *
 * Nothing is stored between calls: a value is a pure function of its coordinates
 * `(seed, stream, counter, row, index)`, so a perturbation can be regenerated later instead of
 * kept in memory (as MeZO does). Element `j` of population row `r` uses Philox key
 * `(seed, stream)`, counter `(j >> 2, rowBase + r, counter, 0)` and lane `j & 3`; the CPU twin
 * in `src/rng.ts` (`randomBitsAt`, `randomUniformAt`, `randomNormalAt`, `randomRademacherAt`
 * with `row = rowBase + r`) reproduces it, bit for bit for bits, uniforms and signs, and to float
 * rounding for normals.
 *
 * Kernels that need noise inside their own loop prepend {@linkcode RANDOM_WGSL} (the `rng_`
 * functions of the shader) to their code and call `rng_block` / `rng_normal4` directly.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { KernelSpec } from "../gpu/kernel.ts";
import { type Shape, Tensor } from "../tensor.ts";
import { ceilDiv, fold, rowLayout } from "./_util.ts";
import code from "../../shaders/random.wgsl" with { type: "text" };

const WG = 64;
const LIBRARY_END =
  "// ---------------------------------------------------------------- end of library";

/**
 * The library part of `shaders/random.wgsl`: Philox4x32-10 and the conversions, as WGSL
 * functions prefixed `rng_` with no bindings and no entry points. Prepend it to another
 * kernel's source to generate random values inside that kernel:
 * `rng_block(seed, stream, block, row, counter) -> vec4u` (the 4 words of elements
 * `4*block .. 4*block+3`), `rng_uniform4`, `rng_normal4`, `rng_rademacher4` (`vec4u -> vec4f`).
 *
 * @example
 * ```ts ignore
 * import kernel from "../../shaders/perturb.wgsl" with { type: "text" };
 * const spec = { file: "shaders/perturb.wgsl", code: RANDOM_WGSL + kernel, ... };
 * ```
 */
export const RANDOM_WGSL: string = code.slice(0, code.indexOf(LIBRARY_END));

/** Coordinates of a random fill; every field is a u32 (an integer in [0, 2^32)). */
export interface RandomOptions {
  /** Key word 0. */
  seed: number;
  /** Key word 1: separates independent uses of one seed (e.g. init vs perturbation). Default 0. */
  stream?: number;
  /** Draw index, e.g. the optimizer step. Default 0. */
  counter?: number;
  /**
   * Row index of the first population row (row `r` of the output uses `rowBase + r`; a tensor
   * without a population axis is row `rowBase`). Default 0.
   */
  rowBase?: number;
}

/** Options of {@linkcode fillUniform} and {@linkcode randomUniform}. */
export interface UniformOptions extends RandomOptions {
  /** Lower bound (inclusive). Default 0. */
  lo?: number;
  /** Upper bound (exclusive). Default 1. */
  hi?: number;
}

/** Options of {@linkcode fillNormal} and {@linkcode randomNormal}. */
export interface NormalOptions extends RandomOptions {
  /** Mean. Default 0. */
  mean?: number;
  /** Standard deviation, >= 0. Default 1. */
  std?: number;
}

/** Options of {@linkcode fillRademacher} and {@linkcode randomRademacher}. */
export interface RademacherOptions extends RandomOptions {
  /** Magnitude: values are `+scale` or `-scale`. Default 1. */
  scale?: number;
}

/** Where a new random tensor lives. */
export interface NewTensorOptions {
  /** Dim 0 of the shape is the population axis. Default false. */
  population?: boolean;
  /** Device; defaults to the one from `initGpu()`. */
  gpu?: Gpu;
}

type Kind = "bits" | "uniform" | "normal" | "rademacher";

const KERNELS: Record<Kind, KernelSpec> = {
  bits: spec("fill_bits"),
  uniform: spec("fill_uniform"),
  normal: spec("fill_normal"),
  rademacher: spec("fill_rademacher"),
};

function spec(entryPoint: string): KernelSpec {
  return {
    file: "shaders/random.wgsl",
    code,
    entryPoint,
    storage: ["write"],
  };
}

interface Coords {
  seed: number;
  stream: number;
  counter: number;
  rowBase: number;
}

function checkU32(op: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value >= 2 ** 32) {
    throw new RangeError(`${op}: ${name} must be an integer in [0, 2^32), received ${value}`);
  }
  return value;
}

function checkFinite(op: string, name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new RangeError(`${op}: ${name} must be a finite number, received ${value}`);
  }
  return value;
}

function coords(op: string, o: RandomOptions): Coords {
  if (o === null || typeof o !== "object") {
    throw new TypeError(`${op}: options with a seed are required, received ${o}`);
  }
  return {
    seed: checkU32(op, "seed", o.seed),
    stream: checkU32(op, "stream", o.stream ?? 0),
    counter: checkU32(op, "counter", o.counter ?? 0),
    rowBase: checkU32(op, "rowBase", o.rowBase ?? 0),
  };
}

/** The largest f32 strictly below the f32 `x`. */
function f32Below(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  if (x === 0) u[0] = 0x80000001;
  else if (x > 0) u[0]--;
  else u[0]++;
  return f[0];
}

/** Validated kernel constants `[a, b, c]` of one kind. */
function constants(op: string, kind: Kind, o: RandomOptions): [number, number, number] {
  if (kind === "uniform") {
    const { lo = 0, hi = 1 } = o as UniformOptions;
    checkFinite(op, "lo", lo);
    checkFinite(op, "hi", hi);
    if (lo > hi) throw new RangeError(`${op}: lo must be <= hi, received ${lo} > ${hi}`);
    const loF = Math.fround(lo), hiF = Math.fround(hi);
    if (hiF <= loF) return [loF, 0, loF];
    const span = Math.fround(hiF - loF);
    if (!Number.isFinite(span)) {
      throw new RangeError(`${op}: hi - lo must be finite in f32, received ${hi} - ${lo}`);
    }
    return [loF, span, f32Below(hiF)];
  }
  if (kind === "normal") {
    const { mean = 0, std = 1 } = o as NormalOptions;
    checkFinite(op, "mean", mean);
    checkFinite(op, "std", std);
    if (std < 0) throw new RangeError(`${op}: std must be >= 0, received ${std}`);
    return [mean, std, 0];
  }
  if (kind === "rademacher") {
    const { scale = 1 } = o as RademacherOptions;
    return [checkFinite(op, "scale", scale), 0, 0];
  }
  return [0, 0, 0];
}

function dispatch(out: Tensor, kind: Kind, c: Coords, k: [number, number, number]): Tensor {
  const gpu = out.gpu;
  const rows = out.rows;
  const blocksPerRow = ceilDiv(out.rowNumel, 4);
  if (rows === 0 || blocksPerRow === 0) return out;
  const { off, stride } = rowLayout(out);
  gpu.dispatch(gpu.kernel(KERNELS[kind], { WG }), [out.buffer], {
    rows,
    rowNumel: out.rowNumel,
    blocksPerRow,
    off,
    stride,
    ...c,
    a: k[0],
    b: k[1],
    c: k[2],
  }, fold(ceilDiv(rows * blocksPerRow, WG)));
  return out;
}

function fill(op: string, kind: Kind, out: Tensor, o: RandomOptions): Tensor {
  const c = coords(op, o);
  return dispatch(out, kind, c, constants(op, kind, o));
}

function create(
  op: string,
  kind: Kind,
  shape: Shape,
  o: RandomOptions & NewTensorOptions,
): Tensor {
  const c = coords(op, o);
  const k = constants(op, kind, o);
  const out = Tensor.empty(shape, { gpu: o.gpu, population: o.population });
  return dispatch(out, kind, c, k);
}

/**
 * In place: fills `out` with raw Philox words. Each f32 element holds the u32 bit pattern of
 * `randomBitsAt({ seed, stream, counter, row: rowBase + r }, j)` (view the data read back as a
 * `Uint32Array`; many patterns are NaN or denormal as floats).
 *
 * @param out the tensor to overwrite; a population tensor (or a strided view of a parameter
 * buffer) gets one row index per row.
 * @param options seed, stream, counter and rowBase (u32 each).
 * @returns `out`.
 * @throws {RangeError} if a coordinate is not an integer in [0, 2^32).
 * @example
 * ```ts ignore
 * const t = fillRandomBits(Tensor.empty([8]), { seed: 1 });
 * const words = new Uint32Array((await t.read()).buffer);
 * ```
 */
export function fillRandomBits(out: Tensor, options: RandomOptions): Tensor {
  return fill("fillRandomBits", "bits", out, options);
}

/**
 * In place: fills `out` with uniform values in `[lo, hi)`:
 * `lo + (hi - lo) * u` in f32, where `u = randomUniformAt(coords, j)` has 24 random bits, capped
 * at the largest f32 below `hi` so rounding never returns `hi`. With the default `[0, 1)` the
 * values equal the CPU twin exactly. `lo == hi` gives `lo` everywhere.
 *
 * @param out the tensor to overwrite (population rows use rows `rowBase + r`).
 * @param options coordinates plus `lo` (default 0) and `hi` (default 1).
 * @returns `out`.
 * @throws {RangeError} if a coordinate is not a u32, `lo`/`hi` are not finite, `lo > hi`, or
 * `hi - lo` overflows f32.
 * @example
 * ```ts ignore
 * const w = fillUniform(Tensor.empty([64, 10]), { seed: 7, lo: -0.1, hi: 0.1 });
 * ```
 */
export function fillUniform(out: Tensor, options: UniformOptions): Tensor {
  return fill("fillUniform", "uniform", out, options);
}

/**
 * In place: fills `out` with normal values `mean + std * z`, where `z = randomNormalAt(coords,
 * j)` comes from Box–Muller on a lane pair of one Philox block (each GPU invocation computes a
 * whole block: four normals from two logarithms, two square roots, two sines and two cosines).
 * Equal to the CPU twin up to f32 rounding of the transcendentals (about 1e-6).
 *
 * @param out the tensor to overwrite (population rows use rows `rowBase + r`).
 * @param options coordinates plus `mean` (default 0) and `std` (default 1).
 * @returns `out`.
 * @throws {RangeError} if a coordinate is not a u32, `mean`/`std` are not finite, or `std < 0`.
 * @example
 * ```ts ignore
 * // Gaussian perturbations of P = 20 rows of a 15,738-parameter model, step 3:
 * const z = fillNormal(Tensor.empty([20, 15738], { population: true }), { seed: 1, counter: 3 });
 * ```
 */
export function fillNormal(out: Tensor, options: NormalOptions): Tensor {
  return fill("fillNormal", "normal", out, options);
}

/**
 * In place: fills `out` with `+scale` or `-scale`, equally likely: the sign is the top bit of
 * `randomBitsAt(coords, j)` (set: `+scale`), as `randomRademacherAt` computes it.
 *
 * @param out the tensor to overwrite (population rows use rows `rowBase + r`).
 * @param options coordinates plus `scale` (default 1).
 * @returns `out`.
 * @throws {RangeError} if a coordinate is not a u32 or `scale` is not finite.
 * @example
 * ```ts ignore
 * const d = fillRademacher(Tensor.empty([4, 100], { population: true }), { seed: 3, scale: 1e-3 });
 * ```
 */
export function fillRademacher(out: Tensor, options: RademacherOptions): Tensor {
  return fill("fillRademacher", "rademacher", out, options);
}

/**
 * A new tensor of raw Philox words (see {@linkcode fillRandomBits}).
 *
 * @param shape the shape, population axis first when `population` is set.
 * @param options coordinates, `population` and `gpu`.
 * @returns the new tensor (the caller disposes it).
 * @throws {RangeError} for bad coordinates or a bad shape.
 * @example
 * ```ts ignore
 * const t = randomBits([3, 5], { seed: 1, population: true });
 * ```
 */
export function randomBits(shape: Shape, options: RandomOptions & NewTensorOptions): Tensor {
  return create("randomBits", "bits", shape, options);
}

/**
 * A new tensor of uniform values in `[lo, hi)` (see {@linkcode fillUniform}).
 *
 * @param shape the shape, population axis first when `population` is set.
 * @param options coordinates, `lo`, `hi`, `population` and `gpu`.
 * @returns the new tensor (the caller disposes it).
 * @throws {RangeError} for bad coordinates, bounds or shape.
 * @example
 * ```ts ignore
 * const u = randomUniform([1000], { seed: 42, lo: -1, hi: 1 });
 * ```
 */
export function randomUniform(shape: Shape, options: UniformOptions & NewTensorOptions): Tensor {
  return create("randomUniform", "uniform", shape, options);
}

/**
 * A new tensor of normal values (see {@linkcode fillNormal}).
 *
 * @param shape the shape, population axis first when `population` is set.
 * @param options coordinates, `mean`, `std`, `population` and `gpu`.
 * @returns the new tensor (the caller disposes it).
 * @throws {RangeError} for bad coordinates, `std < 0` or a bad shape.
 * @example
 * ```ts ignore
 * const z = randomNormal([20, 15738], { seed: 1, counter: step, population: true });
 * ```
 */
export function randomNormal(shape: Shape, options: NormalOptions & NewTensorOptions): Tensor {
  return create("randomNormal", "normal", shape, options);
}

/**
 * A new tensor of `±scale` values (see {@linkcode fillRademacher}).
 *
 * @param shape the shape, population axis first when `population` is set.
 * @param options coordinates, `scale`, `population` and `gpu`.
 * @returns the new tensor (the caller disposes it).
 * @throws {RangeError} for bad coordinates, a non-finite scale or a bad shape.
 * @example
 * ```ts ignore
 * const d = randomRademacher([100], { seed: 5, scale: 0.01 });
 * ```
 */
export function randomRademacher(
  shape: Shape,
  options: RademacherOptions & NewTensorOptions,
): Tensor {
  return create("randomRademacher", "rademacher", shape, options);
}
