/**
 * Parameter-free activation layers: `ReLU` and `Softmax`.
 *
 * @module
 */

import { relu } from "../ops/elementwise.ts";
import { softmax } from "../ops/loss.ts";
import { formatShape, type Tensor } from "../tensor.ts";
import { Module } from "./module.ts";

/** `max(x, 0)` element by element. */
export class ReLU extends Module {
  /**
   * Applies `max(x, 0)`.
   *
   * @param x any shape.
   * @returns a new tensor of the same shape.
   */
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/**
 * Softmax along one dimension of each row (torch.nn.Softmax). Only the last dimension is
 * supported, which is where class scores live (`dim = 1` of a `[B, C]` batch, or `-1`).
 */
export class Softmax extends Module {
  /** The dimension, counted in the shape without the population axis; negative from the end. */
  readonly dim: number;

  /**
   * Creates the layer.
   *
   * @param dim the dimension (see {@linkcode dim}). Default -1, the last one.
   * @throws {RangeError} if `dim` is not an integer.
   */
  constructor(dim = -1) {
    super();
    if (!Number.isInteger(dim)) {
      throw new RangeError(`Softmax: dim must be an integer, received ${dim}`);
    }
    this.dim = dim;
  }

  /**
   * Applies softmax along the last dimension of every row.
   *
   * @param x input `[P?, ...]`.
   * @returns probabilities of the same shape.
   * @throws {RangeError} if `dim` is not the last dimension of the input rows.
   */
  forward(x: Tensor): Tensor {
    const n = x.rowShape.length;
    const dim = this.dim < 0 ? this.dim + n : this.dim;
    if (dim !== n - 1) {
      throw new RangeError(
        `Softmax: only the last dimension is supported, received dim ${this.dim} for ${
          formatShape(x.rowShape)
        }`,
      );
    }
    return softmax(x);
  }
}
