/**
 * Kernel specs and dispatch helpers shared by the derivative-free optimizers: in-place noise
 * (`perturb`, `combine`), decisions from the loss buffer (`decide`) and row selection.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { KernelSpec, ParamValues } from "../gpu/kernel.ts";
import { ceilDiv, dummyBuffer, fold } from "../ops/_util.ts";
import { RANDOM_WGSL } from "../ops/random.ts";
import type { Tensor } from "../tensor.ts";
import noiseCode from "../../shaders/zo_noise.wgsl" with { type: "text" };
import perturbCode from "../../shaders/zo_perturb.wgsl" with { type: "text" };
import combineCode from "../../shaders/zo_combine.wgsl" with { type: "text" };
import decideCode from "../../shaders/zo_decide.wgsl" with { type: "text" };
import selectCode from "../../shaders/zo_select.wgsl" with { type: "text" };

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

const BUILT_IN: Record<string, number> = { normal: 0, uniform: 1, rademacher: 2 };

/** Kernel code of stored (user-supplied) noise. */
export const STORED_KIND = 3;

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

/** Flags of `shaders/zo_decide.wgsl`. */
export const FLAGS = {
  STEP_OPPOSITE: 1,
  AVG_BEST: 2,
  NEGATE_WORST: 4,
  BASELINE: 8,
  TIES: 16,
  REPORT_LOWEST: 32,
  REG: 64,
  TIE_BEST: 128,
} as const;

const WG = 64;
const WITH_NOISE = RANDOM_WGSL + noiseCode;

const PERTURB: KernelSpec = {
  file: "shaders/zo_perturb.wgsl",
  prelude: WITH_NOISE,
  code: perturbCode,
  entryPoint: "perturb",
  storage: ["read", "write"],
  params: {
    baseOff: "u32",
    dstOff: "u32",
    dstStride: "u32",
    start: "u32",
    count: "u32",
    seed: "u32",
    stream: "u32",
    counter: "u32",
    idBase: "u32",
    kind: "u32",
    pairs: "u32",
    keep: "f32",
    scale: "f32",
  },
};

const COMBINE: KernelSpec = {
  file: "shaders/zo_combine.wgsl",
  prelude: WITH_NOISE,
  code: combineCode,
  entryPoint: "combine",
  storage: ["read", "read", "write"],
  params: {
    outOff: "u32",
    start: "u32",
    count: "u32",
    seed: "u32",
    stream: "u32",
    counter: "u32",
    idBase: "u32",
    kind: "u32",
    k: "u32",
    coefOff: "u32",
    reciprocal: "u32",
    accumulate: "u32",
    mult: "f32",
  },
};

function decideSpec(entryPoint: string): KernelSpec {
  return {
    file: "shaders/zo_decide.wgsl",
    code: decideCode,
    entryPoint,
    storage: ["read", "write", "write"],
    params: {
      lossOff: "u32",
      perRow: "u32",
      rowBase: "u32",
      baseRow: "u32",
      candRow: "u32",
      k: "u32",
      flags: "u32",
      coefOff: "u32",
      stateOff: "u32",
      regOff: "u32",
      reportOff: "u32",
      scale: "f32",
    },
  };
}

const DECIDE = {
  grad: decideSpec("decide_grad"),
  spsa: decideSpec("decide_spsa"),
  select: decideSpec("decide_select"),
};

const SELECT: KernelSpec = {
  file: "shaders/zo_select.wgsl",
  code: selectCode,
  entryPoint: "select_row",
  storage: ["read", "write"],
  params: {
    chosenAt: "u32",
    homeOff: "u32",
    candOff: "u32",
    candStride: "u32",
    start: "u32",
    count: "u32",
  },
};

/** A run of elements `[start, end)` inside a parameter row (start a multiple of 4). */
export interface Span {
  start: number;
  end: number;
}

/** Noise a user-supplied sampler stored for this step: rows `[ids, stride]`. */
export interface StoredNoise {
  /** The stored values, candidate `id`'s row at `id · stride`. */
  buffer: GPUBuffer;
  /** Elements per row (the parameter buffer's row stride). */
  stride: number;
}

/** Where noise comes from: key, step counter, candidate ids and distribution. */
export interface NoiseCoords {
  seed: number;
  stream: number;
  counter: number;
  idBase: number;
  kind: number;
  /** Required for kind {@linkcode STORED_KIND}. */
  stored?: StoredNoise;
}

/** The stored-noise binding and the override constants of a noise kernel. */
export function noiseBinding(gpu: Gpu, stored?: StoredNoise): [GPUBuffer, Record<string, number>] {
  return [stored?.buffer ?? dummyBuffer(gpu), { WG, ZO_STRIDE: stored?.stride ?? 0 }];
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

/** The losses of one evaluation, as the decide kernels read them. */
export interface Evaluation {
  /** The closure's output. */
  readonly loss: Tensor;
  /** First evaluated row. */
  readonly start: number;
  /** Number of evaluated rows. */
  readonly count: number;
  /** Values per row: 1 (a mean loss per row) or the batch size (per-example losses). */
  readonly perRow: number;
}

/** Runs one decide entry point (one invocation). */
export function decide(
  gpu: Gpu,
  kind: keyof typeof DECIDE,
  ev: Evaluation,
  state: GPUBuffer,
  report: Tensor,
  values: Omit<ParamValues, "lossOff" | "perRow" | "rowBase" | "reportOff">,
): void {
  gpu.dispatch(gpu.kernel(DECIDE[kind]), [ev.loss.buffer, state, report.buffer], {
    lossOff: ev.loss.offset,
    perRow: ev.perRow,
    rowBase: ev.start,
    baseRow: 0,
    candRow: 0,
    k: 1,
    flags: 0,
    coefOff: 0,
    stateOff: 0,
    regOff: 0,
    reportOff: report.offset,
    scale: 0,
    ...values,
  }, [1]);
}

/** Copies candidate row `cand + state[chosenAt]` onto `home` over a span, if the choice is ≥ 0. */
export function selectRow(
  gpu: Gpu,
  state: GPUBuffer,
  rows: GPUBuffer,
  stride: number,
  span: Span,
  o: { chosenAt: number; home: number; cand: number },
): void {
  gpu.dispatch(gpu.kernel(SELECT, { WG }), [state, rows], {
    chosenAt: o.chosenAt,
    homeOff: o.home * stride,
    candOff: o.cand * stride,
    candStride: stride,
    start: span.start,
    count: span.end - span.start,
  }, fold(ceilDiv(span.end - span.start, WG)));
}
