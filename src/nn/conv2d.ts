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
import { Parameter } from "../params/flat.ts";

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
  /** Channels of the input (`C` of NCHW). */
  readonly inChannels: number;
  /** Channels of the output, one filter each. */
  readonly outChannels: number;
  /** Side of the square kernel. */
  readonly kernelSize: number;
  /** Step between output pixels. */
  readonly stride: number;
  /** Zero padding on each side. */
  readonly padding: number;
  /** `[outChannels, inChannels, k, k]`. */
  readonly weight: Parameter;
  /** `[outChannels]`, or null with `{ bias: false }`. */
  readonly bias: Parameter | null;

  /**
   * Creates the layer with torch's default initialisation: weight and bias drawn from
   * U(−1/√fanIn, 1/√fanIn), `fanIn = inChannels · kernelSize²`, by the generator
   * {@linkcode manualSeed} seeds.
   *
   * @param inChannels channels of the input.
   * @param outChannels channels of the output.
   * @param kernelSize side of the square kernel.
   * @param options stride, padding and whether to learn a bias.
   * @throws {RangeError} for a non-positive size, stride < 1 or padding < 0.
   */
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

  /**
   * Convolves `x` with the filters of every active parameter row.
   *
   * @param x input `[B, inChannels, H, W]` or `[P, B, inChannels, H, W]`.
   * @returns output `[P?, B, outChannels, Ho, Wo]`.
   * @throws {TypeError} if `x` is not 4-D per row, its channels differ from `inChannels`, or
   *   the kernel is larger than the padded input.
   */
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
