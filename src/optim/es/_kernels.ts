/**
 * Dispatch helpers of the evolution strategies' kernels: ranking into utilities
 * (`shaders/es_rank.wgsl`), sampling candidate rows (`shaders/es_sample.wgsl`) and the
 * element-wise updates (`shaders/es_update.wgsl`).
 *
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { KernelSpec } from "../../gpu/kernel.ts";
import { wgslConstants } from "../../gpu/wgsl_layout.ts";
import { ceilDiv, dummyBuffer, fold, SPECIAL_VALUES_WGSL } from "../../ops/_util.ts";
import { RANDOM_WGSL } from "../../ops/random.ts";
import type { Tensor } from "../../tensor.ts";
import type { Span } from "../population/noise.ts";
import type { Losses } from "../population/protocol.ts";
import rankCode from "../../../shaders/es_rank.wgsl" with { type: "text" };
import sampleCode from "../../../shaders/es_sample.wgsl" with { type: "text" };
import updateCode from "../../../shaders/es_update.wgsl" with { type: "text" };

const WG = 64;

/** How `sample` scales the noise per parameter, as `shaders/es_sample.wgsl` defines it. */
export const SCALE = wgslConstants(
  sampleCode,
  ["SCALE_NONE", "SCALE_VECTOR", "SCALE_SQRT"] as const,
);
const SAMPLE_FLAGS = wgslConstants(sampleCode, ["MIRRORED", "SIGMA_FROM_STATE"] as const);

const RANK = {
  means: {
    file: "shaders/es_rank.wgsl",
    prelude: SPECIAL_VALUES_WGSL,
    code: rankCode,
    entryPoint: "row_means",
  },
  utilities: {
    file: "shaders/es_rank.wgsl",
    prelude: SPECIAL_VALUES_WGSL,
    code: rankCode,
    entryPoint: "utilities",
  },
};
const RANK_STORAGE = ["read", "read", "write", "write"] as const;

const SAMPLE: KernelSpec = {
  file: "shaders/es_sample.wgsl",
  prelude: RANDOM_WGSL,
  code: sampleCode,
  entryPoint: "sample",
  storage: ["read", "read", "read", "write"],
};

/** The entry points of `shaders/es_update.wgsl`. */
export type UpdateEntry =
  | "openai_grad"
  | "pgpe"
  | "snes"
  | "sepcma_moments"
  | "sepcma_sigma"
  | "sepcma_update";

function updateSpec(entryPoint: UpdateEntry): KernelSpec {
  return {
    file: "shaders/es_update.wgsl",
    prelude: RANDOM_WGSL,
    code: updateCode,
    entryPoint,
    storage: ["write", "write", "write", "write", "write"],
  };
}
const UPDATE = new Map<UpdateEntry, KernelSpec>();

/** Where the rank kernels read and write. */
export interface RankTargets {
  /** Utility of each rank, `[P]`. */
  table: GPUBuffer;
  /** The strategy's state record. */
  state: GPUBuffer;
  /** Offsets in `state`: the candidates' mean losses, their utilities, the best candidate. */
  meansOff: number;
  utilOff: number;
  bestAt: number;
  /** Utilities are the negated losses themselves instead of `table[rank]`. */
  raw?: boolean;
}

/**
 * Ranks the `population` candidate rows from `first` by their losses and writes each one's
 * utility; `report` gets the population's mean finite loss. Two dispatches, no readback.
 */
export function rank(
  gpu: Gpu,
  losses: Losses,
  first: number,
  population: number,
  report: Tensor,
  t: RankTargets,
): void {
  const candSlot = losses.slot(first);
  if (losses.slot(first + population - 1) !== candSlot + population - 1) {
    throw new RangeError(
      `rank: candidate rows ${first}..${first + population - 1} were not evaluated together`,
    );
  }
  const values = {
    lossOff: losses.tensor.offset,
    perRow: losses.perRow,
    candSlot,
    meansOff: t.meansOff,
    utilOff: t.utilOff,
    bestAt: t.bestAt,
    reportOff: report.offset,
    raw: t.raw ? 1 : 0,
  };
  const constants = { P: population, WG };
  const buffers = [losses.tensor.buffer, t.table, t.state, report.buffer];
  for (const entry of [RANK.means, RANK.utilities]) {
    gpu.dispatch(
      gpu.kernel({ ...entry, storage: RANK_STORAGE }, constants),
      buffers,
      values,
      [ceilDiv(population, WG)],
    );
  }
}

/** The sampling of one span of candidate rows. */
export interface SampleOptions {
  /** Rows: the center and the first of `population` consecutive candidate rows. */
  center: number;
  first: number;
  population: number;
  /** Row stride of the parameter buffer. */
  stride: number;
  /** Noise key and counter (the generation). */
  seed: number;
  stream: number;
  counter: number;
  /** Candidate pairs m ± σ·scale·z (population even). */
  mirrored: boolean;
  /** A scalar multiplier of σ, and whether σ itself is read from `state[sigmaAt]`. */
  sigmaMult: number;
  sigmaAt?: number;
  /** Per-parameter scale: none, stdevs, or variances (square-rooted). */
  scaleKind: number;
  vec?: GPUBuffer;
  state?: GPUBuffer;
}

/**
 * Writes the candidate rows over one span: the center row is copied aside (the kernel reads
 * it while writing other rows of the same buffer), then one dispatch per chunk of candidate
 * rows that fits a storage binding — one dispatch unless the population's rows pass
 * `gpu.maxBindingSize`.
 */
export function sample(gpu: Gpu, rows: GPUBuffer, span: Span, o: SampleOptions): void {
  const count = span.end - span.start;
  const [x, z] = fold(ceilDiv(ceilDiv(count, 4), WG));
  const dummy = dummyBuffer(gpu);
  const rowBytes = o.stride * 4;
  const center = gpu.pool.acquire(rowBytes, "ES center copy");
  gpu.copy(rows, o.center * rowBytes, center, 0, rowBytes);
  const perChunk = Math.max(1, Math.min(65535, Math.floor(gpu.maxBindingSize / rowBytes)));
  for (let k = 0; k < o.population; k += perChunk) {
    const n = Math.min(perChunk, o.population - k);
    const range = { buffer: rows, offset: (o.first + k) * rowBytes, size: n * rowBytes };
    gpu.dispatch(gpu.kernel(SAMPLE, { WG }), [o.vec ?? dummy, o.state ?? dummy, center, range], {
      kBase: k,
      dstOff: 0,
      stride: o.stride,
      vecOff: 0,
      start: span.start,
      count,
      seed: o.seed,
      stream: o.stream,
      counter: o.counter,
      scaleKind: o.scaleKind,
      flags: (o.mirrored ? SAMPLE_FLAGS.MIRRORED : 0) |
        (o.sigmaAt === undefined ? 0 : SAMPLE_FLAGS.SIGMA_FROM_STATE),
      sigmaAt: o.sigmaAt ?? 0,
      sigmaMult: o.sigmaMult,
    }, [x, n, z]);
  }
  gpu.pool.release(center);
}

/** Buffers and values of one update dispatch; unset offsets and constants are 0. */
export interface UpdateOptions {
  state: GPUBuffer;
  /** The parameter buffer and the gradient buffer: only the center row of each is bound. */
  rows: GPUBuffer;
  grad?: GPUBuffer;
  /** The center row and the buffers' row stride. */
  center: number;
  stride: number;
  vec?: GPUBuffer;
  aux?: GPUBuffer;
  /** Terms of the weighted sums: pairs when mirrored, else candidates. */
  terms: number;
  values: Partial<Record<UpdateValue, number>>;
}

type UpdateValue =
  | "stride"
  | "seed"
  | "stream"
  | "counter"
  | "utilOff"
  | "mirrored"
  | "normAt"
  | "sigmaAt"
  | "sigmaOldAt"
  | "hsigAt"
  | "n"
  | "c0"
  | "c1"
  | "c2"
  | "cs"
  | "damps"
  | "cc"
  | "cmu"
  | "sumW";

/**
 * Runs one entry point of `shaders/es_update.wgsl` over a span (or once, for `sepcma_sigma`),
 * binding only the center's row of the parameter and gradient buffers (so any population fits).
 */
export function update(gpu: Gpu, entry: UpdateEntry, span: Span, o: UpdateOptions): void {
  let spec = UPDATE.get(entry);
  if (spec === undefined) UPDATE.set(entry, spec = updateSpec(entry));
  const dummy = dummyBuffer(gpu);
  const count = span.end - span.start;
  const [x, z] = fold(ceilDiv(ceilDiv(count, 4), WG));
  const rowBytes = o.stride * 4;
  const row = (buffer: GPUBuffer) => ({ buffer, offset: o.center * rowBytes, size: rowBytes });
  gpu.dispatch(
    gpu.kernel(spec, { WG, K: o.terms }),
    [
      o.state,
      row(o.rows),
      o.grad === undefined ? dummy : row(o.grad),
      o.vec ?? dummy,
      o.aux ?? dummy,
    ],
    {
      centerOff: 0,
      gradOff: 0,
      vecOff: 0,
      stride: 0,
      start: span.start,
      count,
      seed: 0,
      stream: 0,
      counter: 0,
      utilOff: 0,
      mirrored: 0,
      normAt: 0,
      sigmaAt: 0,
      sigmaOldAt: 0,
      hsigAt: 0,
      n: 0,
      c0: 0,
      c1: 0,
      c2: 0,
      cs: 0,
      damps: 0,
      cc: 0,
      cmu: 0,
      sumW: 0,
      ...o.values,
    },
    entry === "sepcma_sigma" ? [1] : [x, 1, z],
  );
}
