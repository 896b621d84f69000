// CPU reference forward pass of the spec's 15,738-parameter MNIST CNN, built from the
// per-kernel references: conv → max-pool 2 → ReLU, three times, then flatten and linear.

import { conv2dOutSize, conv2dRef } from "./conv2d.ts";
import { softmaxRef } from "./loss.ts";
import { linearRef } from "./matmul.ts";
import { maxPool2dRef, pool2dOutSize } from "./pool.ts";

/** Logits `[batch, 10]` (softmax probabilities with `softmaxHead`) of one parameter set. */
export function mnistCnnRef(
  params: Record<string, Float32Array>,
  x: Float32Array,
  batch: number,
  softmaxHead = false,
): Float32Array {
  let h = x;
  let [size, channels] = [28, 1];
  for (const [index, cout, k] of [[0, 16, 4], [3, 32, 3], [6, 64, 2]]) {
    const shape = { batch, cin: channels, h: size, w: size, cout, kh: k, kw: k };
    h = conv2dRef(h, params[`${index}.weight`], params[`${index}.bias`], shape);
    const [conv] = conv2dOutSize(shape);
    const pool = { planes: batch * cout, h: conv, w: conv, kernelSize: 2 };
    h = maxPool2dRef(h, pool, true);
    [size] = pool2dOutSize(pool);
    channels = cout;
  }
  const logits = linearRef(h, params["10.weight"], {
    batch,
    inF: 256,
    outF: 10,
    bias: params["10.bias"],
  });
  return softmaxHead ? Float32Array.from(softmaxRef(logits, 10)) : logits;
}
