// The models and data of tests/golden/generate_grads.py, built the same way on both sides:
// parameters, inputs and targets from one formula (`detValues`), so only gradients are stored.

import { ReLU } from "../../src/nn/activation.ts";
import { Conv2d } from "../../src/nn/conv2d.ts";
import { Flatten } from "../../src/nn/flatten.ts";
import { Linear } from "../../src/nn/linear.ts";
import { mnistCnn } from "../../src/nn/models.ts";
import { AvgPool2d, MaxPool2d } from "../../src/nn/pool.ts";
import { Sequential } from "../../src/nn/sequential.ts";
import { type Tensor, tensor } from "../../src/tensor.ts";

/** `float32(scale · sin(a·j + b))` for `j < n` (the generator's `det`). */
export function detValues(n: number, a: number, b: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, j) => scale * Math.sin(a * j + b));
}

/** The small net covering the layers the MNIST CNN lacks (see the generator). */
export function smallNet(): Sequential {
  return new Sequential(
    new Conv2d(2, 3, 3, { stride: 2, padding: 1 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 1, padding: 1 }),
    new AvgPool2d(3, { stride: 2, padding: 1 }),
    new Flatten(),
    new Linear(27, 5),
    new ReLU(),
    new Linear(5, 4, { bias: false }),
  );
}

/** Parameter k, element j: `detValues` with a = 0.37, b = 1.7 k, scale 1/√fan-in of its layer. */
export function loadDet(model: Sequential): void {
  let fanIn = 1;
  const state: Record<string, Float32Array> = {};
  model.namedParameters().forEach(([name, p], k) => {
    if (p.shape.length > 1) fanIn = p.numel / p.shape[0];
    state[name] = detValues(p.numel, 0.37, 1.7 * k, 1 / Math.sqrt(fanIn));
  });
  model.loadStateDict(state);
  model.parameters();
}

/** A model of the golden fixture with its input and target. */
export function goldenSetup(
  kind: "mnistCnn" | "small",
  batch: number,
  softmaxHead = false,
): { model: Sequential; x: Tensor; y: Tensor } {
  if (kind === "mnistCnn") {
    const model = mnistCnn({ softmaxHead });
    loadDet(model);
    const x = tensor(detValues(batch * 784, 0.11, 0.3, 1), [batch, 1, 28, 28]);
    const y = tensor(Array.from({ length: batch }, (_, j) => (7 * j + 3) % 10), [batch]);
    return { model, x, y };
  }
  const model = smallNet();
  loadDet(model);
  const x = tensor(detValues(batch * 2 * 9 * 9, 0.23, 0.9, 1.5), [batch, 2, 9, 9]);
  const y = tensor(detValues(batch * 4, 0.5, 0.1, 1), [batch, 4]);
  return { model, x, y };
}
