/**
 * Perturbations regenerated from their coordinates: the samplers, and the two kernels that
 * use them — `perturb` writes candidate rows `keep · base + scale · noise`, `combine` adds a
 * weighted sum of the same noise to a row (a gradient estimate or an update). A candidate's
 * noise is never stored between the two: it is drawn again from (seed, stream, step,
 * candidate, element), unless a user-supplied sampler made it (then it is stored for the step).
 *
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { KernelSpec } from "../../gpu/kernel.ts";
import { wgslConstants } from "../../gpu/wgsl_layout.ts";
import { ceilDiv, dummyBuffer, fold } from "../../ops/_util.ts";
import { RANDOM_WGSL } from "../../ops/random.ts";
import type { Tensor } from "../../tensor.ts";
import noiseCode from "../../../shaders/zo_noise.wgsl" with { type: "text" };
import perturbCode from "../../../shaders/zo_perturb.wgsl" with { type: "text" };
import combineCode from "../../../shaders/zo_combine.wgsl" with { type: "text" };

/** Coordinates handed to a {@linkcode SamplerFn}. */
export interface SamplerDraw {
  /** The optimizer's seed. */
  seed: number;
  /** The optimizer's random stream. */
  stream: number;
  /** The step. */
  step: number;
  /** The candidate (perturbation) index within the step. */
  candidate: number;
}

/**
 * A user-supplied sampler: fills `out` (one parameter row, `[stride]`) with the perturbation
 * of one candidate, on the GPU (e.g. with `fillUniform`, or any ops). It should depend only on
 * `draw`, so a seeded run is reproducible. Its values are stored for the step (the built-in
 * samplers are regenerated instead).
 *
 * @example
 * ```ts ignore
 * const halfUniform: SamplerFn = (out, d) =>
 *   fillUniform(out, { seed: d.seed, stream: d.stream, counter: d.step, rowBase: d.candidate, lo: -0.5, hi: 0.5 });
 * ```
 */
export type SamplerFn = (out: Tensor, draw: SamplerDraw) => void;

/**
 * Perturbation distribution: built-in ones are generated inside the kernels that need them
 * (`"uniform"` is U(−1, 1)); a function is a user-supplied sampler.
 */
export type Sampler = "normal" | "uniform" | "rademacher" | SamplerFn;

const KINDS = wgslConstants(
  noiseCode,
  [
    "SAMPLER_NORMAL",
    "SAMPLER_UNIFORM",
    "SAMPLER_RADEMACHER",
    "SAMPLER_STORED",
  ] as const,
);
const BUILT_IN: Record<string, number> = {
  normal: KINDS.SAMPLER_NORMAL,
  uniform: KINDS.SAMPLER_UNIFORM,
  rademacher: KINDS.SAMPLER_RADEMACHER,
};

/** Kernel code of stored (user-supplied) noise. */
export const STORED_KIND = KINDS.SAMPLER_STORED;

/** Sampler → kernel code. @throws {RangeError} for an unknown sampler. */
export function samplerKind(optimizer: string, sampler: unknown): number {
  if (typeof sampler === "function") return STORED_KIND;
  const kind = typeof sampler === "string" ? BUILT_IN[sampler] : undefined;
  if (kind === undefined) {
    throw new RangeError(
      `${optimizer}: sampler must be "normal", "uniform", "rademacher" or a function, received ${sampler}`,
    );
  }
  return kind;
}

const WG = 64;
const WITH_NOISE = RANDOM_WGSL + noiseCode;

const PERTURB: KernelSpec = {
  file: "shaders/zo_perturb.wgsl",
  prelude: WITH_NOISE,
  code: perturbCode,
  entryPoint: "perturb",
  storage: ["read", "write"],
};

const COMBINE: KernelSpec = {
  file: "shaders/zo_combine.wgsl",
  prelude: WITH_NOISE,
  code: combineCode,
  entryPoint: "combine",
  storage: ["read", "read", "write"],
};

/** Noise a user-supplied sampler stored for this step: rows `[ids, stride]`. */
export interface StoredNoise {
  /** The stored values, candidate `id`'s row at `id · stride`. */
  buffer: GPUBuffer;
  /** Elements per row (the parameter buffer's row stride). */
  stride: number;
}

/** Where noise comes from: key, step counter, candidate ids and distribution. */
export interface NoiseCoords {
  /** The optimizer's seed (key word 0). */
  seed: number;
  /** The optimizer's random stream (key word 1). */
  stream: number;
  /** The step: the counter coordinate. */
  counter: number;
  /** Noise id of the first candidate. */
  idBase: number;
  /** The sampler's kernel code (see `samplerKind`). */
  kind: number;
  /** Required for kind {@linkcode STORED_KIND}. */
  stored?: StoredNoise;
}

/** The stored-noise binding and the override constants of a noise kernel. */
export function noiseBinding(gpu: Gpu, stored?: StoredNoise): [GPUBuffer, Record<string, number>] {
  return [stored?.buffer ?? dummyBuffer(gpu), { WG, ZO_STRIDE: stored?.stride ?? 0 }];
}

/** A run of elements `[start, end)` inside a parameter row (start a multiple of 4). */
export interface Span {
  /** First element. */
  start: number;
  /** One past the last element. */
  end: number;
}

function blockGroups(span: Span): [number, number] {
  return fold(ceilDiv(ceilDiv(span.end - span.start, 4), WG));
}

/**
 * Writes `k` candidate rows `dst, dst + 1, ...` of `rows` (stride `stride`):
 * `keep · base + sign · scale · noise`.
 */
export function perturb(
  gpu: Gpu,
  rows: GPUBuffer,
  stride: number,
  span: Span,
  o: NoiseCoords & {
    base: number;
    dst: number;
    k: number;
    keep: number;
    scale: number;
    pairs?: boolean;
  },
): void {
  const [x, z] = blockGroups(span);
  const [stored, constants] = noiseBinding(gpu, o.stored);
  gpu.dispatch(gpu.kernel(PERTURB, constants), [stored, rows], {
    baseOff: o.base * stride,
    dstOff: o.dst * stride,
    dstStride: stride,
    start: span.start,
    count: span.end - span.start,
    seed: o.seed,
    stream: o.stream,
    counter: o.counter,
    idBase: o.idBase,
    kind: o.kind,
    pairs: o.pairs ? 1 : 0,
    keep: o.keep,
    scale: o.scale,
  }, [x, o.k, z]);
}

/**
 * `out[row] = (accumulate ? out[row] : 0) + mult · Σ_k coef[coefOff + k] · f(noise_k)` over a span.
 */
export function combine(
  gpu: Gpu,
  coef: GPUBuffer,
  out: GPUBuffer,
  offset: number,
  span: Span,
  o: NoiseCoords & {
    k: number;
    coefOff: number;
    accumulate: boolean;
    mult: number;
    reciprocal?: boolean;
  },
): void {
  const [x, z] = blockGroups(span);
  const [stored, constants] = noiseBinding(gpu, o.stored);
  gpu.dispatch(gpu.kernel(COMBINE, constants), [coef, stored, out], {
    outOff: offset,
    start: span.start,
    count: span.end - span.start,
    seed: o.seed,
    stream: o.stream,
    counter: o.counter,
    idBase: o.idBase,
    kind: o.kind,
    k: o.k,
    coefOff: o.coefOff,
    reciprocal: o.reciprocal ? 1 : 0,
    accumulate: o.accumulate ? 1 : 0,
    mult: o.mult,
  }, [x, 1, z]);
}
