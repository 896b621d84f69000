import { avgPool2d, maxPool2d } from "../../src/ops/pool.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import { avgPool2dRef, maxPool2dRef, pool2dOutSize, type Pool2dShape } from "../ref/pool.ts";
import { assert, assertClose, assertNoLeak, gpu, uniformData } from "../_util.ts";

interface Case {
  name: string;
  shape: [number, number, number, number];
  kernelSize: number;
  stride?: number;
  padding?: number;
}

const CASES: Case[] = [
  { name: "MNIST pool 1 (batch 32, 16x25x25, k2)", shape: [32, 16, 25, 25], kernelSize: 2 },
  { name: "MNIST pool 2 (32x10x10, k2)", shape: [3, 32, 10, 10], kernelSize: 2 },
  { name: "MNIST pool 3 (64x4x4, k2)", shape: [2, 64, 4, 4], kernelSize: 2 },
  {
    name: "33x17 input with k3, stride 2, padding 1",
    shape: [1, 3, 33, 17],
    kernelSize: 3,
    stride: 2,
    padding: 1,
  },
  { name: "overlapping k3 stride 1 windows", shape: [2, 7, 9, 8], kernelSize: 3, stride: 1 },
  { name: "k1 (identity with stride 2)", shape: [1, 2, 7, 7], kernelSize: 1, stride: 2 },
  { name: "k2 padding 1", shape: [1, 1, 5, 6], kernelSize: 2, padding: 1 },
  { name: "a window as large as the input", shape: [2, 3, 4, 4], kernelSize: 4 },
];

function geometry(c: Case, planes = c.shape[0] * c.shape[1]): Pool2dShape {
  return { planes, h: c.shape[2], w: c.shape[3], ...c };
}

for (const c of CASES) {
  Deno.test(`maxPool2d and avgPool2d match the CPU reference on ${c.name}`, async () => {
    await assertNoLeak(gpu, async () => {
      const n = c.shape.reduce((a, b) => a * b);
      const data = uniformData(n, n, -2, 2);
      const x = tensor(data, c.shape);
      const options = { kernelSize: c.kernelSize, stride: c.stride, padding: c.padding };
      const g = geometry(c);
      const [ho, wo] = pool2dOutSize(g);
      const max = maxPool2d(x, options);
      const maxRelu = maxPool2d(x, { ...options, relu: true });
      const avg = avgPool2d(x, options);
      assert.deepEqual(max.shape, [c.shape[0], c.shape[1], ho, wo]);
      assert.deepEqual(avg.shape, max.shape);
      assertClose(await max.read(), maxPool2dRef(data, g), { rtol: 0, atol: 0 }, "max");
      assertClose(await maxRelu.read(), maxPool2dRef(data, g, true), { rtol: 0, atol: 0 }, "relu");
      assertClose(await avg.read(), avgPool2dRef(data, g), { rtol: 1e-6, atol: 1e-7 }, "avg");
      for (const t of [x, max, maxRelu, avg]) t.dispose();
    });
  });
}

Deno.test("maxPool2d and avgPool2d pool every row of a strided population view", async () => {
  await assertNoLeak(gpu, async () => {
    const P = 3, shape = [2, 5, 7, 9];
    const rowNumel = 2 * 5 * 7 * 9;
    const offset = 5, stride = rowNumel + 11;
    const flat = uniformData(3, offset + P * stride, -1, 1);
    const base = tensor(flat);
    const x = Tensor.view(gpu, base.buffer, [P, ...shape], {
      population: true,
      offset,
      rowStride: stride,
    });
    const options = { kernelSize: 3, stride: 2, padding: 1 };
    const max = maxPool2d(x, { ...options, relu: true });
    const avg = avgPool2d(x, options);
    const g: Pool2dShape = { planes: 10, h: 7, w: 9, ...options };
    const [ho, wo] = pool2dOutSize(g);
    assert.deepEqual(max.shape, [P, 2, 5, ho, wo]);
    assert.equal(max.population, true);
    const gotMax = await max.read(), gotAvg = await avg.read();
    const n = 10 * ho * wo;
    for (let r = 0; r < P; r++) {
      const row = flat.subarray(offset + r * stride, offset + r * stride + rowNumel);
      assertClose(gotMax.subarray(r * n, (r + 1) * n), maxPool2dRef(row, g, true), {
        rtol: 0,
        atol: 0,
      });
      assertClose(gotAvg.subarray(r * n, (r + 1) * n), avgPool2dRef(row, g), {
        rtol: 1e-6,
        atol: 1e-7,
      });
    }
    for (const t of [base, x, max, avg]) t.dispose();
  });
});

Deno.test("maxPool2d propagates NaN and never returns its padding", async () => {
  const x = tensor([NaN, 1, 2, 3, -5, -6, -7, -8], [1, 2, 2, 2]);
  const max = maxPool2d(x, { kernelSize: 2, stride: 1, padding: 1 });
  const got = await max.read();
  // Channel 0: windows holding the NaN are NaN; channel 1 is all negative, padding is −∞.
  const expected = [NaN, NaN, 1, NaN, NaN, 3, 2, 3, 3, -5, -5, -6, -5, -5, -6, -7, -7, -8];
  assertClose(got, expected, { rtol: 0, atol: 0 });
  const relu = maxPool2d(x, { kernelSize: 2, relu: true });
  const r = await relu.read();
  assert.ok(Number.isNaN(r[0]));
  assert.equal(r[1], 0);
  for (const t of [x, max, relu]) t.dispose();
});

Deno.test("pooling rejects bad shapes with a TypeError and bad options with a RangeError", () => {
  const x = tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
  const x3 = tensor(new Float32Array(3 * 4 * 4), [3, 4, 4]);
  assert.throws(
    () => maxPool2d(x3, { kernelSize: 2 }),
    (e: Error) => e instanceof TypeError && e.message.includes("[3, 4, 4]"),
  );
  assert.throws(
    () => avgPool2d(x, { kernelSize: 5 }),
    (e: Error) => e instanceof TypeError && e.message.includes("[2, 3, 4, 4]"),
  );
  const ranged = (text: string) => (e: Error) => e instanceof RangeError && e.message === text;
  assert.throws(
    () => maxPool2d(x, { kernelSize: 0 }),
    ranged("maxPool2d: kernelSize must be an integer >= 1, received 0"),
  );
  assert.throws(
    () => avgPool2d(x, { kernelSize: 2, stride: 0 }),
    ranged("avgPool2d: stride must be an integer >= 1, received 0"),
  );
  assert.throws(
    () => maxPool2d(x, { kernelSize: 2, padding: -1 }),
    ranged("maxPool2d: padding must be an integer >= 0, received -1"),
  );
  assert.throws(
    () => maxPool2d(x, { kernelSize: 2, padding: 2 }),
    ranged("maxPool2d: padding must be at most half the kernel size 2, received 2"),
  );
  x.dispose();
  x3.dispose();
});

Deno.test("maxPool2d and avgPool2d handle windows larger than the register cache", async () => {
  const c: Case = { name: "k9", shape: [1, 2, 11, 10], kernelSize: 9, stride: 1, padding: 4 };
  const data = uniformData(9, 220, -1, 1);
  const x = tensor(data, c.shape);
  const g = geometry(c);
  const max = maxPool2d(x, c), avg = avgPool2d(x, c);
  assertClose(await max.read(), maxPool2dRef(data, g), { rtol: 0, atol: 0 }, "max");
  assertClose(await avg.read(), avgPool2dRef(data, g), { rtol: 1e-6, atol: 1e-7 }, "avg");
  for (const t of [x, max, avg]) t.dispose();
});
