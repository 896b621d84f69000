import { diffStats } from "../../src/gpu/stats.ts";
import { manualSeed } from "../../src/nn/init.ts";
import { mnistCnn } from "../../src/nn/models.ts";
import { crossEntropy } from "../../src/ops/loss.ts";
import { AdamW } from "../../src/optim/first_order/adam.ts";
import { RandomGrad } from "../../src/optim/zeroth_order/random_grad.ts";
import { tensor, tidy } from "../../src/tensor.ts";
import { assert, gpu, uniformData } from "../_util.ts";

// The memory budget of issue 6: a RandomGrad + AdamW step on the MNIST CNN allocates nothing,
// and the device bytes in use stay within params + grad + AdamW state + 2 evaluation rows +
// activations, counted here layer by layer from the network's shapes.
Deno.test("a RandomGrad + AdamW step on the MNIST CNN allocates nothing and stays in its memory budget", () => {
  const B = 32;
  const base = gpu.stats.bytesInUse;
  gpu.stats.resetPeak();
  manualSeed(0);
  const model = mnistCnn();
  const x = tensor(uniformData(3, B * 784), [B, 1, 28, 28]);
  const y = tensor(Array.from({ length: B }, (_, i) => i % 10), [B]);
  const params = model.parameters();
  const opt = new RandomGrad(params, { magn: 1e-5, seed: 0, opt: new AdamW(params, { lr: 1e-3 }) });
  const closure = () => crossEntropy(model.forward(x), y, { reduction: "none" });
  const step = () => tidy(() => void opt.step(closure));
  step(); // compile, allocate the evaluation row, gradients and AdamW state
  step();
  gpu.flush();

  const before = gpu.stats.snapshot();
  for (let i = 0; i < 50; i++) {
    opt.zeroGrad();
    step();
  }
  gpu.flush();
  const d = diffStats(before, gpu.stats.snapshot());
  assert.equal(d.buffersCreated, 0, "steps create no buffers");
  assert.equal(d.bytesInUse, 0, "steps leave no bytes behind");
  assert.equal(d.readbacks, 0, "steps read nothing back");
  // Bind groups are cached per uniform chunk: the same 50 steps again create none.
  const groups = gpu.stats.bindGroupsCreated;
  for (let i = 0; i < 50; i++) {
    opt.zeroGrad();
    step();
  }
  gpu.flush();
  assert.equal(gpu.stats.bindGroupsCreated, groups, "steps reuse their bind groups");

  const N = model.numParameters();
  const stride = model.flat.stride; // N rounded up for aligned rows
  const P = 2;
  const floats = {
    rows: P * stride, // row 0 (the model) + row 1 (the probe)
    grad: P * stride, // the gradient buffer spans the rows; the probe row's part is unused
    adamw: 2 * stride, // exp_avg, exp_avg_sq
    data: B * 784 + B, // the batch and its labels
    // Conv → pool → ReLU is fused, so each block writes its pooled output only.
    activations: P * B * (16 * 12 * 12 + 32 * 5 * 5 + 64 * 2 * 2 + 10 + 1),
    // The software adapter's conv keeps every layer's repacked weights (redone when they
    // change), padded to vec4 groups of output channels: under one row's weights per row, ×2.
    packed: 2 * P * stride,
  };
  const budgetBytes = 4 * Object.values(floats).reduce((a, b) => a + b) +
    256 * 4 + // the optimizer's state block
    16 * 1024; // pool granules and small per-call uniforms
  const peak = gpu.stats.peakBytesInUse - base;
  assert.ok(N <= stride && stride < N + 64);
  assert.ok(
    peak <= budgetBytes,
    `peak ${peak} B exceeds the budget ${budgetBytes} B (${JSON.stringify(floats)})`,
  );
  // And the budget is not vacuous: the parameters, gradients and AdamW state alone are most of
  // it after the activations.
  assert.ok(peak >= 4 * (floats.rows + floats.adamw + floats.activations), `peak ${peak} B`);

  opt.dispose();
  x.dispose();
  y.dispose();
  model.flat.dispose();
});
