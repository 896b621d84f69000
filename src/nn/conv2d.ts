/**
 * `Conv2d`: 2-D convolution over NCHW inputs, torch.nn.Conv2d with its default initialisation.
 *
 * @module
 */

import { checkInt } from "../ops/_util.ts";
import { conv2d } from "../ops/conv2d.ts";
import type { Tensor } from "../tensor.ts";
import { defaultBound, uniformInit } from "./init.ts";
import { Module } from "./module.ts";
import { Parameter } from "./parameter.ts";

/** Options of {@linkcode Conv2d}. */
export interface Conv2dOptions {
  /** Step between output pixels. Default 1. */
  stride?: number;
  /** Zero padding on each side. Default 0. */
  padding?: number;
  /** Learn a bias per output channel. Default true. */
  bias?: boolean;
}

/**
 * 2-D convolution with a square kernel. Input `[P?, B, inChannels, H, W]`, output
 * `[P?, B, outChannels, Ho, Wo]` with `Ho = floor((H + 2·padding − k) / stride) + 1`.
 *
 * @example
 * ```ts ignore
 * const conv = new Conv2d(1, 16, 4); // 1×28×28 → 16×25×25
 * ```
 */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  /** `[outChannels, inChannels, k, k]`. */
  readonly weight: Parameter;
  /** `[outChannels]`, or null with `{ bias: false }`. */
  readonly bias: Parameter | null;

  /** @throws {RangeError} for a non-positive size, stride < 1 or padding < 0. */
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    options: Conv2dOptions = {},
  ) {
    super();
    checkInt("Conv2d", "inChannels", inChannels, 1);
    checkInt("Conv2d", "outChannels", outChannels, 1);
    checkInt("Conv2d", "kernelSize", kernelSize, 1);
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    checkInt("Conv2d", "stride", this.stride, 1);
    checkInt("Conv2d", "padding", this.padding, 0);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = kernelSize;
    const fanIn = inChannels * kernelSize * kernelSize;
    const bound = defaultBound(fanIn);
    this.weight = new Parameter(uniformInit(outChannels * fanIn, bound), [
      outChannels,
      inChannels,
      kernelSize,
      kernelSize,
    ]);
    this.bias = options.bias === false
      ? null
      : new Parameter(uniformInit(outChannels, bound), [outChannels]);
  }

  forward(x: Tensor): Tensor {
    return this.forwardPooled(x, 1, false);
  }

  /** `relu?(maxPool2d(conv(x), pool))` in one call (what `Sequential` runs for conv → pool → ReLU). */
  forwardPooled(x: Tensor, pool: number, relu: boolean): Tensor {
    return conv2d(x, this.weight.view(), this.bias?.view(), {
      stride: this.stride,
      padding: this.padding,
      maxPool: pool,
      relu,
    });
  }
}
