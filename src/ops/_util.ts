/**
 * Helpers shared by the op wrappers: population broadcasting, shape checks, dispatch geometry.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { formatShape, type Shape, type Tensor } from "../tensor.ts";
import specialValues from "../../shaders/special_values.wgsl" with { type: "text" };

/** `quiet_nan()` and `negative_infinity()` in WGSL, a prelude for kernels that store them. */
export const SPECIAL_VALUES_WGSL: string = specialValues;

/** Largest workgroup count per dispatch dimension guaranteed by WebGPU. */
export const MAX_GROUPS = 65535;

/** `ceil(a / b)` for positive integers. */
export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/**
 * Folds a 1-D count of workgroups into `[x, y]` with `x ≤ 65535`. Kernels recover the linear
 * group index as `wid.x + wid.y * num_workgroups.x`.
 */
export function fold(groups: number): [number, number] {
  if (groups <= MAX_GROUPS) return [Math.max(1, groups), 1];
  const y = ceilDiv(groups, MAX_GROUPS);
  return [ceilDiv(groups, y), y];
}

/** True when two shapes are equal. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Number of population rows of an op's output: the common row count of the population
 * operands (1 if none has a population axis).
 *
 * @throws {TypeError} if two population operands have different row counts.
 */
export function populationRows(op: string, ...tensors: (Tensor | undefined)[]): number {
  let rows = 0;
  let first: Tensor | undefined;
  for (const t of tensors) {
    if (t === undefined || !t.population) continue;
    if (first !== undefined && t.rows !== rows) {
      throw new TypeError(
        `${op}: population sizes differ, ${formatShape(first.shape)} vs ${formatShape(t.shape)}`,
      );
    }
    first ??= t;
    rows = t.rows;
  }
  return Math.max(rows, 1);
}

/** True when any operand has a population axis. */
export function anyPopulation(...tensors: (Tensor | undefined)[]): boolean {
  return tensors.some((t) => t?.population === true);
}

/** Offset and row stride of an operand, 0 stride broadcasting a shared operand to all rows. */
export function rowLayout(t: Tensor): { off: number; stride: number } {
  return { off: t.offset, stride: t.population ? t.rowStride : 0 };
}

/** Full output shape: `[rows, ...rowShape]` when the output is a population tensor. */
export function withRows(population: boolean, rows: number, rowShape: Shape): number[] {
  return population ? [rows, ...rowShape] : [...rowShape];
}

/** @throws {TypeError} unless the tensors live on the same device. */
export function sameGpu(op: string, ...tensors: (Tensor | undefined)[]): Gpu {
  const gpu = tensors.find((t) => t !== undefined)!.gpu;
  for (const t of tensors) {
    if (t !== undefined && t.gpu !== gpu) {
      throw new TypeError(`${op}: tensors are on different devices`);
    }
  }
  return gpu;
}

/** A 16-byte read-only stand-in for kernel inputs an entry point does not use. */
export function dummyBuffer(gpu: Gpu): GPUBuffer {
  return gpu.unusedBuffer(0);
}

/** @throws {RangeError} unless `value` is an integer ≥ `min`. */
export function checkInt(op: string, name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${op}: ${name} must be an integer >= ${min}, received ${value}`);
  }
}
