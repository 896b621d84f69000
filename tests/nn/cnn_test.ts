import { diffStats } from "../../src/gpu/stats.ts";
import { manualSeed } from "../../src/nn/init.ts";
import { mnistCnn } from "../../src/nn/models.ts";
import { Conv2d } from "../../src/nn/conv2d.ts";
import { Linear } from "../../src/nn/linear.ts";
import { AvgPool2d, MaxPool2d } from "../../src/nn/pool.ts";
import { ReLU, Softmax } from "../../src/nn/activation.ts";
import { Flatten } from "../../src/nn/flatten.ts";
import { Sequential } from "../../src/nn/sequential.ts";
import { Generator } from "../../src/rng.ts";
import { type Tensor, tensor, tidy } from "../../src/tensor.ts";
import { crossEntropy } from "../../src/ops/loss.ts";
import { assert, assertClose, gpu, uniformData } from "../_util.ts";
import { mnistCnnRef } from "../ref/cnn.ts";

Deno.test("mnistCnn has exactly 15,738 parameters named like torch's", () => {
  const model = mnistCnn();
  assert.equal(model.numParameters(), 15738);
  assert.deepEqual(model.namedParameters().map(([n, p]) => `${n} ${p.shape.join("x")}`), [
    "0.weight 16x1x4x4",
    "0.bias 16",
    "3.weight 32x16x3x3",
    "3.bias 32",
    "6.weight 64x32x2x2",
    "6.bias 64",
    "10.weight 10x256",
    "10.bias 10",
  ]);
});

Deno.test("layers are initialised like torch: U(±1/sqrt(fan_in)), seeded", async () => {
  manualSeed(5);
  const a = mnistCnn();
  manualSeed(5);
  const b = mnistCnn();
  const [sa, sb] = [await a.stateDict(), await b.stateDict()];
  assert.deepEqual(sa, sb);
  const fanIn: Record<string, number> = { "0": 16, "3": 144, "6": 128, "10": 256 };
  for (const [name, values] of Object.entries(sa)) {
    const bound = 1 / Math.sqrt(fanIn[name.split(".")[0]]);
    assert.ok(values.every((v) => Math.abs(v) <= bound), name);
    assert.ok(Math.max(...values.map(Math.abs)) > 0.8 * bound, `${name} uses its range`);
  }
  a.flat.dispose();
  b.flat.dispose();
});

for (const batch of [1, 32]) {
  Deno.test(`the CNN forward pass equals the CPU reference at batch ${batch}`, async () => {
    const model = mnistCnn({ softmaxHead: batch === 1 });
    const images = uniformData(batch, batch * 784, -0.5, 2.8);
    const x = tensor(images, [batch, 1, 28, 28]);
    const out = model.forward(x);
    assert.deepEqual(out.shape, [batch, 10]);
    const expected = mnistCnnRef(await model.stateDict(), images, batch, batch === 1);
    assertClose(await out.read(), expected, { rtol: 1e-4, atol: 1e-5 });
    for (const t of [x, out]) t.dispose();
    model.flat.dispose();
  });
}

Deno.test("evaluating P parameter rows in one forward equals P one-row forwards", async () => {
  const model = mnistCnn();
  const flat = model.flat;
  const P = 3;
  flat.setRows(P);
  const g = new Generator(3);
  for (let r = 1; r < P; r++) {
    flat.loadRow(
      r,
      (await flat.readRow(0)).map((v) => v * (1 + 0.5 * g.normal())),
    );
  }
  const x = tensor(uniformData(9, 4 * 784, 0, 1), [4, 1, 28, 28]);
  flat.setActive(P);
  const all = model.forward(x);
  assert.deepEqual(all.shape, [P, 4, 10]);
  const together = await all.read();
  for (let r = 0; r < P; r++) {
    flat.setActive(1, r);
    const one = model.forward(x);
    assert.deepEqual(
      [...together.subarray(r * 40, r * 40 + 40)],
      [...await one.read()],
      `row ${r}`,
    );
    one.dispose();
  }
  all.dispose();
  x.dispose();
  flat.dispose();
});

Deno.test("every layer evaluates population rows exactly like single rows", async () => {
  const layers: [string, () => Sequential, number[]][] = [
    [
      "Conv2d stride 2 padding 1",
      () => new Sequential(new Conv2d(3, 5, 3, { stride: 2, padding: 1 })),
      [2, 3, 9, 7],
    ],
    ["Linear", () => new Sequential(new Linear(7, 4)), [3, 7]],
    ["MaxPool2d + ReLU", () => new Sequential(new Conv2d(2, 2, 1), new MaxPool2d(2), new ReLU()), [
      2,
      2,
      5,
      5,
    ]],
    ["AvgPool2d", () => new Sequential(new Conv2d(2, 3, 2), new AvgPool2d(2, { stride: 1 })), [
      1,
      2,
      6,
      6,
    ]],
    [
      "Flatten + Softmax",
      () => new Sequential(new Conv2d(1, 2, 2), new Flatten(), new Linear(18, 5), new Softmax()),
      [2, 1, 4, 4],
    ],
  ];
  for (const [name, make, shape] of layers) {
    const model = make();
    const flat = model.flat;
    flat.setRows(2);
    flat.loadRow(1, (await flat.readRow(0)).map((v, i) => v + 0.01 * Math.sin(i)));
    const x = tensor(uniformData(4, shape.reduce((a, b) => a * b, 1)), shape);
    flat.setActive(2);
    const both = await model.forward(x).read();
    for (let r = 0; r < 2; r++) {
      flat.setActive(1, r);
      const one = await model.forward(x).read();
      assert.deepEqual(
        [...both.subarray(r * one.length, (r + 1) * one.length)],
        [...one],
        `${name} row ${r}`,
      );
    }
    x.dispose();
    flat.dispose();
  }
});

Deno.test("100 forward passes of the CNN leave bytes in use flat", () => {
  const model = mnistCnn();
  const x = tensor(uniformData(1, 32 * 784), [32, 1, 28, 28]);
  model.flat.setRows(2);
  model.flat.setActive(2);
  const forward = () => tidy(() => void model.forward(x)); // nothing returned: all freed
  forward(); // compile and fill the pool
  const before = gpu.stats.snapshot();
  for (let i = 0; i < 100; i++) forward();
  gpu.flush();
  const d = diffStats(before, gpu.stats.snapshot());
  assert.equal(d.bytesInUse, 0);
  assert.equal(d.buffersCreated, 0);
  assert.equal(d.readbacks, 0);
  // Bind groups are cached per uniform chunk: the same 100 passes again create none.
  const again = gpu.stats.bindGroupsCreated;
  for (let i = 0; i < 100; i++) forward();
  gpu.flush();
  assert.equal(gpu.stats.bindGroupsCreated, again, "the bind groups are reused");
  x.dispose();
  model.flat.dispose();
});

Deno.test("a batch with the wrong shape is rejected with both shapes named", () => {
  const model = mnistCnn();
  const x = tensor(new Float32Array(2 * 2 * 28 * 28), [2, 2, 28, 28]);
  assert.throws(
    () => model.forward(x),
    (e: Error) => e instanceof TypeError && /\[2, 2, 28, 28\]/.test(e.message),
  );
  const t: Tensor = x;
  t.dispose();
  model.flat.dispose();
});

Deno.test("a CNN population forward beyond the binding limit equals the unsplit one bit for bit", async () => {
  // Rows and images are split once a tensor exceeds gpu.maxBindingSize (128 MiB on llvmpipe:
  // P = 64 rows of 256 images); lowered here so that P = 4 rows of 20 images need it.
  const model = mnistCnn();
  const flat = model.flat;
  const P = 4, B = 20;
  flat.setRows(P);
  const g = new Generator(11);
  const base = await flat.readRow(0);
  for (let r = 1; r < P; r++) flat.loadRow(r, base.map((v) => v * (1 + 0.3 * g.normal())));
  flat.setActive(P);
  const x = tensor(uniformData(12, B * 784, 0, 1), [B, 1, 28, 28]);
  const y = tensor(Array.from({ length: B }, (_, i) => i % 10), [B]);
  const forward = async () => {
    const before = gpu.stats.dispatches;
    const [logits, loss] = tidy(() => {
      const out = model.forward(x);
      return [out, crossEntropy(out, y)];
    });
    const dispatches = gpu.stats.dispatches - before;
    const bits = [
      new Uint32Array((await logits.read()).buffer),
      new Uint32Array((await loss.read()).buffer),
    ];
    logits.dispose();
    loss.dispose();
    return { bits, dispatches };
  };
  await forward(); // packs the weights once
  const whole = await forward();
  assert.equal(whole.dispatches, 5, "conv1, conv2, conv3, linear, loss");
  const saved = gpu.maxBindingSize;
  // 512 KiB: conv1's output (184 KB a row) goes two rows at a time. 96 KiB: one row of it does
  // not fit, so its images are split; the parameter rows (63 KB each) are bound one by one.
  for (const limit of [512 * 1024, 96 * 1024]) {
    gpu.maxBindingSize = limit;
    try {
      const split = await forward();
      assert.ok(split.dispatches > whole.dispatches, `${limit}: ${split.dispatches} dispatches`);
      assert.deepEqual(split.bits[0], whole.bits[0], `logits at ${limit} bytes`);
      assert.deepEqual(split.bits[1], whole.bits[1], `losses at ${limit} bytes`);
    } finally {
      gpu.maxBindingSize = saved;
    }
  }
  for (const t of [x, y]) t.dispose();
  flat.dispose();
});
