/**
 * Decisions made on the GPU from the losses of one evaluation (`shaders/zo_decide.wgsl`), and
 * the row copy they drive (`shaders/zo_select.wgsl`): a step never reads a loss back.
 *
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { KernelSpec } from "../../gpu/kernel.ts";
import { wgslConstants } from "../../gpu/wgsl_layout.ts";
import { ceilDiv, fold } from "../../ops/_util.ts";
import type { Tensor } from "../../tensor.ts";
import type { Span } from "./noise.ts";
import type { Losses } from "./protocol.ts";
import decideCode from "../../../shaders/zo_decide.wgsl" with { type: "text" };
import selectCode from "../../../shaders/zo_select.wgsl" with { type: "text" };

/** Flags of the decide kernels, as `shaders/zo_decide.wgsl` defines them. */
export const FLAGS = wgslConstants(
  decideCode,
  [
    "STEP_OPPOSITE",
    "AVG_BEST",
    "NEGATE_WORST",
    "BASELINE",
    "TIES",
    "REPORT_LOWEST",
    "REG",
    "TIE_BEST",
  ] as const,
);

/**
 * The record `decide_select` writes at its `stateOff` (lowest loss so far, chosen candidate or
 * −1, worst candidate, best candidate), as offsets inside it; `FLOATS` is its length.
 */
export const SELECT_RECORD = wgslConstants(
  decideCode,
  [
    "SELECT_LOWEST",
    "SELECT_CHOSEN",
    "SELECT_WORST",
    "SELECT_BEST",
    "SELECT_FLOATS",
  ] as const,
);

const WG = 64;

function decideSpec(entryPoint: string): KernelSpec {
  return {
    file: "shaders/zo_decide.wgsl",
    code: decideCode,
    entryPoint,
    storage: ["read", "write", "write"],
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
};

/** What one decision compares and where it writes. */
export interface DecideRows {
  /** The home row, when it was evaluated (its loss is the baseline). */
  base?: number;
  /** The first of `k` consecutive candidate rows, all evaluated. */
  cand: number;
  /** Number of candidates (SPSA: ± pairs). */
  k: number;
  /** {@linkcode FLAGS} bits. Default 0. */
  flags?: number;
  /** Where the coefficients go in `state` (decide_grad, decide_spsa). Default 0. */
  coefOff?: number;
  /** Where the select record goes in `state` (decide_select). Default 0. */
  stateOff?: number;
  /** Where the candidates' penalties are in `state` (decide_select with REG). Default 0. */
  regOff?: number;
  /** Multiplier of the SPSA differences. Default 0. */
  scale?: number;
}

/**
 * Runs one decide entry point (one invocation) over the losses of `o.base` and the candidate
 * rows from `o.cand` (k of them; SPSA: k ± pairs, 2k rows).
 *
 * @throws {RangeError} if a row it reads was not evaluated.
 */
export function decide(
  gpu: Gpu,
  kind: keyof typeof DECIDE,
  losses: Losses,
  state: GPUBuffer,
  report: Tensor,
  o: DecideRows,
): void {
  const candSlot = losses.slot(o.cand);
  const last = o.cand + (kind === "spsa" ? 2 * o.k : o.k) - 1; // SPSA reads k ± pairs
  if (losses.slot(last) !== candSlot + last - o.cand) {
    throw new RangeError(`decide: candidate rows ${o.cand}..${last} were not evaluated together`);
  }
  gpu.dispatch(gpu.kernel(DECIDE[kind]), [losses.tensor.buffer, state, report.buffer], {
    lossOff: losses.tensor.offset,
    perRow: losses.perRow,
    baseSlot: o.base === undefined ? 0 : losses.slot(o.base),
    candSlot,
    k: o.k,
    flags: o.flags ?? 0,
    coefOff: o.coefOff ?? 0,
    stateOff: o.stateOff ?? 0,
    regOff: o.regOff ?? 0,
    reportOff: report.offset,
    scale: o.scale ?? 0,
  }, [1]);
}

/**
 * Copies candidate row `cand + state[chosenAt]` onto `home` over a span, if the choice is ≥ 0.
 */
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
