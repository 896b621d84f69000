/**
 * `Linear`: `y = x Wᵀ + b`, torch.nn.Linear with its default initialisation.
 *
 * @module
 */

import { checkInt } from "../ops/_util.ts";
import { linear } from "../ops/matmul.ts";
import type { Tensor } from "../tensor.ts";
import { defaultBound, uniformInit } from "./init.ts";
import { Module } from "./module.ts";
import { Parameter } from "../params/flat.ts";

/**
 * Fully connected layer. Input `[P?, B, inFeatures]`, output `[P?, B, outFeatures]`.
 *
 * @example
 * ```ts ignore
 * const fc = new Linear(256, 10);
 * ```
 */
export class Linear extends Module {
  /** Size of the last input axis. */
  readonly inFeatures: number;
  /** Size of the last output axis. */
  readonly outFeatures: number;
  /** `[outFeatures, inFeatures]`. */
  readonly weight: Parameter;
  /** `[outFeatures]`, or null with `{ bias: false }`. */
  readonly bias: Parameter | null;

  /**
   * Creates the layer with torch's default initialisation: weight and bias drawn from
   * U(−1/√inFeatures, 1/√inFeatures) by the generator {@linkcode manualSeed} seeds.
   *
   * @param inFeatures size of the last input axis.
   * @param outFeatures size of the last output axis.
   * @param options `bias: false` leaves the bias out. Default: with bias.
   * @throws {RangeError} if a size is not a positive integer.
   */
  constructor(inFeatures: number, outFeatures: number, options: { bias?: boolean } = {}) {
    super();
    checkInt("Linear", "inFeatures", inFeatures, 1);
    checkInt("Linear", "outFeatures", outFeatures, 1);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const bound = defaultBound(inFeatures);
    this.weight = new Parameter(uniformInit(outFeatures * inFeatures, bound), [
      outFeatures,
      inFeatures,
    ]);
    this.bias = options.bias === false
      ? null
      : new Parameter(uniformInit(outFeatures, bound), [outFeatures]);
  }

  /**
   * Computes `x Wᵀ + b` for every active parameter row.
   *
   * @param x input `[B, inFeatures]` or `[P, B, inFeatures]`.
   * @returns output `[P?, B, outFeatures]`.
   * @throws {TypeError} if `x` is not 2-D per row or its last axis is not `inFeatures`.
   */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight.view(), this.bias?.view());
  }
}
