// src/ops/_targets.ts with crossEntropy and the DataLoader: a batch holding a class the logits
// do not have is refused before any GPU work, as PyTorch refuses it.

import { DataLoader } from "../../src/data/loader.ts";
import { crossEntropy } from "../../src/ops/loss.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import { assert, gpu } from "../_util.ts";

const dataset = {
  images: new Uint8Array(4 * 2 * 2),
  labels: Uint8Array.from([0, 3, 1, 2]),
  count: 4,
  height: 2,
  width: 2,
};

Deno.test("crossEntropy refuses a DataLoader batch holding a class outside the logits' range", async () => {
  const loader = new DataLoader(dataset, { batchSize: 4, gpu });
  const [{ y }] = [...loader.batches()];
  const three = Tensor.empty([4, 3], { gpu });
  assert.throws(
    () => crossEntropy(three, y),
    (e: Error) =>
      e instanceof RangeError &&
      /crossEntropy: target holds class 3, outside \[0, 3\) for logits of 3 classes/.test(
        e.message,
      ),
  );
  const four = tensor(new Float32Array(16), [4, 4]);
  const loss = crossEntropy(four, y);
  assert.ok(Math.abs((await loss.item()) - Math.log(4)) < 1e-6);
  for (const t of [three, four, loss]) t.dispose();
  loader.dispose();
});

Deno.test("crossEntropy refuses host targets from tensor() holding a bad class, before any GPU work", () => {
  const logits = tensor(new Float32Array(6), [2, 3]);
  const cases: [number[], RegExp][] = [
    [[0, 5], /crossEntropy: target holds class 5, outside \[0, 3\) for logits of 3 classes/],
    [[0, -1], /crossEntropy: target\[1\] is -1, not a class index in \[0, 3\)/],
    [[1.5, 0], /crossEntropy: target\[0\] is 1\.5, not a class index in \[0, 3\)/],
    [[0, NaN], /crossEntropy: target\[1\] is NaN, not a class index in \[0, 3\)/],
  ];
  for (const [labels, message] of cases) {
    const y = tensor(labels, [2]);
    const before = gpu.stats.dispatches;
    assert.throws(
      () => crossEntropy(logits, y, { reduction: "none" }),
      (e: Error) => e instanceof RangeError && message.test(e.message),
    );
    assert.equal(gpu.stats.dispatches, before);
    y.dispose();
  }
  logits.dispose();
});

Deno.test("crossEntropy leaves targets computed on the GPU to the kernel: NaN for a bad class", async () => {
  const y = Tensor.empty([2], { gpu });
  gpu.write(y.buffer, 0, Float32Array.from([0, 5])); // not through tensor(): unknown to the host
  const loss = crossEntropy(tensor(new Float32Array(6), [2, 3]), y, { reduction: "none" });
  const values = await loss.read();
  assert.ok(Math.abs(values[0] - Math.log(3)) < 1e-6 && Number.isNaN(values[1]));
  loss.dispose();
  y.dispose();
});
