/**
 * `Flatten`: merges every dimension after the batch dimension (torch.nn.Flatten()).
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { Module } from "./module.ts";

/** `[P?, B, d1, d2, ...]` → `[P?, B, d1·d2·...]`, a view without copying. */
export class Flatten extends Module {
  /**
   * Reshapes `x` to two dimensions per row (three with a population axis).
   *
   * @param x input `[B, ...]` or `[P, B, ...]`.
   * @returns a view `[B, features]` or `[P, B, features]`.
   */
  forward(x: Tensor): Tensor {
    const [batch, ...rest] = x.rowShape;
    const features = rest.reduce((a, b) => a * b, 1);
    return x.reshape(x.population ? [x.rows, batch, features] : [batch, features]);
  }
}
