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
import { Parameter } from "./parameter.ts";

/**
 * Fully connected layer. Input `[P?, B, inFeatures]`, output `[P?, B, outFeatures]`.
 *
 * @example
 * ```ts ignore
 * const fc = new Linear(256, 10);
 * ```
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** `[outFeatures, inFeatures]`. */
  readonly weight: Parameter;
  /** `[outFeatures]`, or null with `{ bias: false }`. */
  readonly bias: Parameter | null;

  /** @throws {RangeError} if a size is not a positive integer. */
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

  forward(x: Tensor): Tensor {
    return linear(x, this.weight.view(), this.bias?.view());
  }
}
