/**
 * `lossAndGrad`: the loss of a model on a batch and the gradients of every parameter row
 * being evaluated, written into the model's flat gradient buffer (reverse mode, no tape).
 *
 * Why an explicit function rather than torch's `loss.backward()`: a recorded forward needs
 * every op to log itself onto a tape and every tensor to know its producer, which would touch
 * (and slow) every forward kernel wrapper, including the derivative-free paths where no
 * gradient is ever needed. Here the model is a chain of known layers, so the backward pass is
 * the chain walked in reverse: run each layer's forward keeping its input, take the loss's
 * gradient, and call each layer's backward op. Forward-only code is untouched, and a closure
 * that wants gradients says so by calling `lossAndGrad` instead of the loss function — the
 * same closure works for a single model, a swarm of gradient-based members and a chain.
 *
 * @module
 */

import {
  avgPool2dGrad,
  conv2dGradInput,
  conv2dGradWeight,
  crossEntropyGrad,
  type GradTarget,
  linearGradInput,
  linearGradWeight,
  maxPool2dGrad,
  mseGrad,
  reluGrad,
  softmaxGrad,
} from "../ops/backward.ts";
import { crossEntropy, type LossOptions, mseLoss, type Reduction } from "../ops/loss.ts";
import type { FlatParameters, Parameter } from "../params/flat.ts";
import { type Tensor, tidy } from "../tensor.ts";
import { ReLU, Softmax } from "./activation.ts";
import { Conv2d } from "./conv2d.ts";
import { Flatten } from "./flatten.ts";
import { Linear } from "./linear.ts";
import type { Module } from "./module.ts";
import { AvgPool2d, MaxPool2d } from "./pool.ts";
import { Sequential } from "./sequential.ts";

/** The losses {@linkcode lossAndGrad} can differentiate: `crossEntropy` and `mseLoss`. */
export type DifferentiableLoss = typeof crossEntropy | typeof mseLoss;

/** The layers with a backward pass, in a `Sequential` (nested ones are flattened). */
function layersOf(model: Module): Module[] {
  if (model instanceof Sequential) return model.layers.flatMap(layersOf);
  const supported = [Linear, Conv2d, MaxPool2d, AvgPool2d, ReLU, Softmax, Flatten];
  if (!supported.some((kind) => model instanceof kind)) {
    throw new TypeError(
      `lossAndGrad: no backward pass for ${model.constructor.name}; supported layers are ` +
        "Linear, Conv2d, MaxPool2d, AvgPool2d, ReLU, Softmax and Flatten in a Sequential",
    );
  }
  return [model];
}

function hasParameters(layer: Module): boolean {
  return layer instanceof Linear || layer instanceof Conv2d;
}

function target(flat: FlatParameters, weight: Parameter, bias: Parameter | null): GradTarget {
  const base = flat.active.start * flat.stride;
  return {
    buffer: flat.gradBuffer,
    offset: base + weight.offset,
    biasOffset: bias === null ? null : base + bias.offset,
    rowStride: flat.stride,
  };
}

/** The gradient of the loss with respect to the model's output. */
function lossGrad(
  lossFn: DifferentiableLoss,
  output: Tensor,
  labels: Tensor,
  reduction: Reduction,
): Tensor {
  if (lossFn === crossEntropy) return crossEntropyGrad(output, labels, reduction);
  if (lossFn === mseLoss) return mseGrad(output, labels, reduction);
  throw new TypeError(
    `lossAndGrad: can differentiate crossEntropy and mseLoss, received ${
      (lossFn as { name?: string }).name || "another function"
    }`,
  );
}

/** Runs one layer's backward: writes its parameter gradients, returns the input's gradient. */
function backwardLayer(
  layer: Module,
  flat: FlatParameters,
  input: Tensor,
  output: Tensor,
  dy: Tensor,
  needInput: boolean,
): Tensor | null {
  if (layer instanceof Linear) {
    linearGradWeight(dy, input, target(flat, layer.weight, layer.bias));
    return needInput ? linearGradInput(dy, layer.weight.view()) : null;
  }
  if (layer instanceof Conv2d) {
    const geometry = { stride: layer.stride, padding: layer.padding };
    conv2dGradWeight(
      dy,
      input,
      layer.weight.shape,
      geometry,
      target(flat, layer.weight, layer.bias),
    );
    return needInput ? conv2dGradInput(dy, layer.weight.view(), input.rowShape, geometry) : null;
  }
  if (!needInput) return null;
  if (layer instanceof MaxPool2d) return maxPool2dGrad(dy, input, layer);
  if (layer instanceof AvgPool2d) return avgPool2dGrad(dy, input.rowShape, layer);
  if (layer instanceof ReLU) return reluGrad(dy, output);
  if (layer instanceof Softmax) return softmaxGrad(dy, output);
  // Flatten: the same numbers in the input's shape.
  return dy.reshape(dy.population ? [dy.rows, ...input.rowShape] : input.rowShape);
}

/**
 * Computes the loss of `model` on `(x, labels)` for every active parameter row and writes
 * each row's gradients into that row of the model's gradient buffer
 * (`model.flat.gradBuffer`), marking every parameter as having a gradient there — what
 * `optimizer.zeroGrad(); loss = lossFn(model(x), y); loss.backward()` does in torch, for all
 * rows in one batched pass (one forward and one backward dispatch per layer). Gradients are
 * written, not accumulated. Nothing is read back.
 *
 * The model is a `Sequential` (or one layer) of `Linear`, `Conv2d`, `MaxPool2d`, `AvgPool2d`,
 * `ReLU`, `Softmax` and `Flatten` — every layer of the library, the MNIST CNN with or without
 * its softmax head included. Layers run unfused here (the gradients are those of the fused
 * forward: fusion does not change the values).
 *
 * @param model the model; its active rows (see `FlatParameters.setActive`) are evaluated.
 * @param x the input batch, `[B, ...]` (shared by all rows) or `[P, B, ...]`.
 * @param labels the loss's target (class indices for `crossEntropy`, values for `mseLoss`).
 * @param lossFn `crossEntropy` or `mseLoss`, the function itself.
 * @param options `reduction` as for the loss (default `"mean"`); with `"none"` the gradient
 *   is that of the sum of the per-example losses (torch's `loss.backward(ones)`).
 * @returns the loss, exactly as `lossFn(model.forward(x), labels, options)` returns it.
 * @throws {TypeError} for a layer or loss without a backward pass, or mismatched shapes.
 * @example
 * ```ts ignore
 * const opt = new SGD(model.parameters(), { lr: 0.1 });
 * const loss = opt.step(() => lossAndGrad(model, images, labels, crossEntropy));
 * ```
 */
export function lossAndGrad(
  model: Module,
  x: Tensor,
  labels: Tensor,
  lossFn: DifferentiableLoss,
  options: LossOptions = {},
): Tensor {
  const layers = layersOf(model);
  const reduction = options.reduction ?? "mean";
  const flat = model.flat;
  return tidy(() => {
    const acts: Tensor[] = [x];
    for (const layer of layers) acts.push(layer.forward(acts.at(-1)!));
    const output = acts.at(-1)!;
    const loss = lossFn(output, labels, { reduction });
    let dy = lossGrad(lossFn, output, labels, reduction);
    const firstWithParams = layers.findIndex(hasParameters);
    for (let i = layers.length - 1; i >= 0; i--) {
      const next = backwardLayer(layers[i], flat, acts[i], acts[i + 1], dy, i > firstWithParams);
      if (next === null) break;
      dy = next;
    }
    const { start, count } = flat.active;
    for (let r = start; r < start + count; r++) {
      for (const p of flat.params) flat.setHasGrad(p, r, true);
    }
    return loss;
  });
}
