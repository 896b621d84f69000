/**
 * `Sequential`: a chain of modules, torch.nn.Sequential.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { ReLU } from "./activation.ts";
import { Conv2d } from "./conv2d.ts";
import { Module } from "./module.ts";
import { MaxPool2d } from "./pool.ts";

/**
 * Runs its layers in order. Children are named `0`, `1`, ... as in torch. Intermediate
 * activations are freed as soon as the next layer has consumed them, and the common chains
 * run fused: `Conv2d → MaxPool2d (stride = window, no padding) [→ ReLU]` as one convolution
 * call, `MaxPool2d → ReLU` as one kernel (same results, fewer passes over memory). The first
 * forward puts the parameters on the GPU.
 *
 * @example
 * ```ts ignore
 * const model = new Sequential(new Linear(4, 16), new ReLU(), new Linear(16, 3));
 * const logits = model.forward(x); // [B, 3], or [P, B, 3] with P active rows
 * ```
 */
export class Sequential extends Module {
  /** The layers, in the order they run. */
  readonly layers: readonly Module[];

  /**
   * Creates the chain.
   *
   * @param layers the modules to run, in order.
   */
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
  }

  /**
   * The layers, named by their position.
   *
   * @returns `[["0", layers[0]], ["1", layers[1]], ...]`.
   */
  override namedChildren(): [string, Module][] {
    return this.layers.map((m, i) => [String(i), m]);
  }

  /**
   * Runs the layers in order, fusing the chains listed above. On the first call (while a
   * parameter is not on the GPU yet) it calls {@linkcode Module.parameters} first.
   *
   * @param x input of the first layer.
   * @returns output of the last layer.
   */
  forward(x: Tensor): Tensor {
    if (this.namedParameters().some(([, p]) => p.flat === null)) this.parameters();
    let h = x;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      let next: Tensor;
      const [second, third] = [this.layers[i + 1], this.layers[i + 2]];
      if (layer instanceof Conv2d && second instanceof MaxPool2d && second.isWindowed()) {
        const relu = third instanceof ReLU;
        next = layer.forwardPooled(h, second.kernelSize, relu);
        i += relu ? 2 : 1;
      } else if (layer instanceof MaxPool2d && second instanceof ReLU) {
        next = layer.forwardRelu(h);
        i++;
      } else {
        next = layer.forward(h);
      }
      if (h !== x && next !== h) h.dispose();
      h = next;
    }
    return h;
  }
}
