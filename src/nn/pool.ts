/**
 * Pooling layers: `MaxPool2d` and `AvgPool2d` (torch semantics, NCHW).
 *
 * @module
 */

import { checkInt } from "../ops/_util.ts";
import { avgPool2d, maxPool2d } from "../ops/pool.ts";
import type { Tensor } from "../tensor.ts";
import { Module } from "./module.ts";

/** Options of the pooling layers. */
export interface Pool2dOptions {
  /** Step between windows; defaults to the kernel size. */
  stride?: number;
  /** Implicit padding on each side (−∞ for max, 0 counted in the average). Default 0. */
  padding?: number;
}

/** Base class of {@linkcode MaxPool2d} and {@linkcode AvgPool2d}: the window geometry. */
export abstract class Pool2d extends Module {
  /** Side of the square window. */
  readonly kernelSize: number;
  /** Step between windows. */
  readonly stride: number;
  /** Implicit padding on each side. */
  readonly padding: number;

  /**
   * Checks and stores the window geometry.
   *
   * @param name the layer's name, for error messages.
   * @param kernelSize side of the square window.
   * @param options stride (default `kernelSize`) and padding (default 0).
   * @throws {RangeError} if `kernelSize` or `stride` is not a positive integer, `padding` is
   *   not an integer ≥ 0, or `padding` exceeds `kernelSize / 2`.
   */
  constructor(name: string, kernelSize: number, options: Pool2dOptions) {
    super();
    this.kernelSize = kernelSize;
    this.stride = options.stride ?? kernelSize;
    this.padding = options.padding ?? 0;
    checkInt(name, "kernelSize", kernelSize, 1);
    checkInt(name, "stride", this.stride, 1);
    checkInt(name, "padding", this.padding, 0);
    if (this.padding > kernelSize / 2) {
      throw new RangeError(
        `${name}: padding must be at most half the kernel size, received ${this.padding} for kernelSize ${kernelSize}`,
      );
    }
  }
}

/**
 * Max pooling over square windows. `Sequential` fuses a following `ReLU` into it.
 *
 * @example
 * ```ts ignore
 * const pool = new MaxPool2d(2); // 25×25 → 12×12
 * ```
 */
export class MaxPool2d extends Pool2d {
  /**
   * Creates the layer.
   *
   * @param kernelSize side of the square window.
   * @param options stride (default `kernelSize`) and padding (default 0).
   * @throws {RangeError} for a non-positive size or stride, negative padding, or padding over
   *   half the window.
   */
  constructor(kernelSize: number, options: Pool2dOptions = {}) {
    super("MaxPool2d", kernelSize, options);
  }

  /**
   * The maximum of every window.
   *
   * @param x input `[B, C, H, W]` or `[P, B, C, H, W]`.
   * @returns output `[P?, B, C, Ho, Wo]`.
   * @throws {TypeError} if `x` is not 4-D per row or the window does not fit the padded input.
   */
  forward(x: Tensor): Tensor {
    return maxPool2d(x, {
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
    });
  }

  /** True for non-overlapping windows without padding (stride = window): fusable into a convolution. */
  isWindowed(): boolean {
    return this.stride === this.kernelSize && this.padding === 0;
  }

  /** `relu(maxPool(x))` in one kernel. */
  forwardRelu(x: Tensor): Tensor {
    return maxPool2d(x, {
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      relu: true,
    });
  }
}

/** Average pooling over square windows (padding counted, like torch's default). */
export class AvgPool2d extends Pool2d {
  /**
   * Creates the layer.
   *
   * @param kernelSize side of the square window.
   * @param options stride (default `kernelSize`) and padding (default 0).
   * @throws {RangeError} for a non-positive size or stride, negative padding, or padding over
   *   half the window.
   */
  constructor(kernelSize: number, options: Pool2dOptions = {}) {
    super("AvgPool2d", kernelSize, options);
  }

  /**
   * The mean of every window (padding counts as zeros in the average).
   *
   * @param x input `[B, C, H, W]` or `[P, B, C, H, W]`.
   * @returns output `[P?, B, C, Ho, Wo]`.
   * @throws {TypeError} if `x` is not 4-D per row or the window does not fit the padded input.
   */
  forward(x: Tensor): Tensor {
    return avgPool2d(x, {
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
    });
  }
}
