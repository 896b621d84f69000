/**
 * Kernel specs and dispatch helpers shared by the derivative-free optimizers: in-place noise
 * (`perturb`, `combine`), decisions from the loss buffer (`decide`) and row selection.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { KernelSpec, ParamValues } from "../gpu/kernel.ts";
import { ceilDiv, fold } from "../ops/_util.ts";
import { RANDOM_WGSL } from "../ops/random.ts";
import type { Tensor } from "../tensor.ts";
import noiseCode from "../../shaders/zo_noise.wgsl" with { type: "text" };
import perturbCode from "../../shaders/zo_perturb.wgsl" with { type: "text" };
import combineCode from "../../shaders/zo_combine.wgsl" with { type: "text" };
import decideCode from "../../shaders/zo_decide.wgsl" with { type: "text" };
import selectCode from "../../shaders/zo_select.wgsl" with { type: "text" };

/** Built-in perturbation distributions, generated inside the kernels that need them. */
export type Sampler = "normal" | "uniform" | "rademacher";

/** Sampler → kernel code. */
export const SAMPLER_KIND: Record<Sampler, number> = { normal: 0, uniform: 1, rademacher: 2 };

/** @throws {RangeError} for an unknown sampler name. */
export function samplerKind(optimizer: string, sampler: unknown): number {
  const kind = SAMPLER_KIND[sampler as Sampler];
  if (kind === undefined) {
    throw new RangeError(
      `${optimizer}: sampler must be "normal", "uniform" or "rademacher", received ${sampler}`,
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
  storage: ["write"],
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
  storage: ["read", "write"],
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

/** Where noise comes from: key, step counter, candidate ids and distribution. */
export interface NoiseCoords {
  seed: number;
  stream: number;
  counter: number;
  idBase: number;
  kind: number;
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
  gpu.dispatch(gpu.kernel(PERTURB, { WG }), [rows], {
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
  gpu.dispatch(gpu.kernel(COMBINE, { WG }), [coef, out], {
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
