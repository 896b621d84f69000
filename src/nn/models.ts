/**
 * Ready-made models.
 *
 * @module
 */

import { ReLU, Softmax } from "./activation.ts";
import { Conv2d } from "./conv2d.ts";
import { Flatten } from "./flatten.ts";
import { Linear } from "./linear.ts";
import { MaxPool2d } from "./pool.ts";
import { Sequential } from "./sequential.ts";

/**
 * The 15,738-parameter MNIST CNN of the original torchzero experiments:
 * three blocks of conv → max-pool 2 → ReLU (1→16 k4, 16→32 k3, 32→64 k2), then
 * Linear(256 → 10). Input `[B, 1, 28, 28]`, output `[B, 10]` logits.
 *
 * @param options.softmaxHead end with `Softmax(dim=1)` as the original did (its loss then
 *   applied cross-entropy to probabilities, a double softmax). Default false: plain logits.
 * @example
 * ```ts ignore
 * const model = mnistCnn();
 * console.log(model.numParameters()); // 15738
 * ```
 */
export function mnistCnn(options: { softmaxHead?: boolean } = {}): Sequential {
  const layers = [
    new Conv2d(1, 16, 4),
    new MaxPool2d(2),
    new ReLU(),
    new Conv2d(16, 32, 3),
    new MaxPool2d(2),
    new ReLU(),
    new Conv2d(32, 64, 2),
    new MaxPool2d(2),
    new ReLU(),
    new Flatten(),
    new Linear(256, 10),
  ];
  if (options.softmaxHead) layers.push(new Softmax(1));
  return new Sequential(...layers);
}
