import type { KernelVariant } from "../../src/gpu/device.ts";
import { chooseTile, conv2d, planRegions } from "../../src/ops/conv2d.ts";
import { copy, scale } from "../../src/ops/elementwise.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import { conv2dOutSize, conv2dRef, type Conv2dShape } from "../ref/conv2d.ts";
import { maxPool2dRef } from "../ref/pool.ts";
import { assert, assertClose, assertNoLeak, gpu, uniformData } from "../_util.ts";

const VARIANTS: KernelVariant[] = ["fallback", "tiled"];
const TOL = { rtol: 2e-5, atol: 2e-5 };

interface Case extends Conv2dShape {
  name: string;
  bias?: boolean;
}

const CASES: Case[] = [
  { name: "MNIST conv1 (1→16, k4, 28x28)", batch: 2, cin: 1, h: 28, w: 28, cout: 16, kh: 4, kw: 4 },
  {
    name: "MNIST conv2 (16→32, k3, 12x12)",
    batch: 3,
    cin: 16,
    h: 12,
    w: 12,
    cout: 32,
    kh: 3,
    kw: 3,
  },
  { name: "MNIST conv3 (32→64, k2, 5x5)", batch: 2, cin: 32, h: 5, w: 5, cout: 64, kh: 2, kw: 2 },
  {
    name: "33x17 input with stride 2 and padding 1",
    batch: 1,
    cin: 3,
    h: 33,
    w: 17,
    cout: 7,
    kh: 3,
    kw: 3,
    stride: 2,
    padding: 1,
  },
  { name: "1x1 kernels", batch: 2, cin: 5, h: 9, w: 11, cout: 13, kh: 1, kw: 1 },
  {
    name: "a 5x3 kernel with padding 2",
    batch: 1,
    cin: 2,
    h: 7,
    w: 6,
    cout: 3,
    kh: 5,
    kw: 3,
    padding: 2,
  },
  { name: "a kernel as large as the input", batch: 3, cin: 1, h: 4, w: 4, cout: 1, kh: 4, kw: 4 },
  {
    name: "stride 3 without bias",
    batch: 2,
    cin: 4,
    h: 13,
    w: 10,
    cout: 20,
    kh: 3,
    kw: 2,
    stride: 3,
    bias: false,
  },
  {
    name: "stride 2 on a 7x7 input",
    batch: 1,
    cin: 1,
    h: 7,
    w: 7,
    cout: 5,
    kh: 3,
    kw: 3,
    stride: 2,
  },
];

function data(s: Conv2dShape, seed: number) {
  return {
    x: uniformData(seed, s.batch * s.cin * s.h * s.w),
    w: uniformData(seed + 1, s.cout * s.cin * s.kh * s.kw, -0.5, 0.5),
    b: uniformData(seed + 2, s.cout),
  };
}

for (const c of CASES) {
  for (const variant of VARIANTS) {
    Deno.test(`conv2d (${variant}) matches the CPU reference on ${c.name}`, async () => {
      await assertNoLeak(gpu, async () => {
        const d = data(c, 11);
        const x = tensor(d.x, [c.batch, c.cin, c.h, c.w]);
        const w = tensor(d.w, [c.cout, c.cin, c.kh, c.kw]);
        const b = c.bias === false ? undefined : tensor(d.b, [c.cout]);
        const y = conv2d(x, w, b, { stride: c.stride, padding: c.padding, variant });
        const [ho, wo] = conv2dOutSize(c);
        assert.deepEqual(y.shape, [c.batch, c.cout, ho, wo]);
        assert.equal(y.population, false);
        const expected = conv2dRef(d.x, d.w, c.bias === false ? null : d.b, c);
        assertClose(await y.read(), expected, TOL, c.name);
        for (const t of [x, w, b, y]) t?.dispose();
      });
    });
  }
}

Deno.test("conv2d (fallback) matches the CPU reference on MNIST conv1 with batch 32", async () => {
  const s: Conv2dShape = { batch: 32, cin: 1, h: 28, w: 28, cout: 16, kh: 4, kw: 4 };
  const d = data(s, 5);
  const x = tensor(d.x, [32, 1, 28, 28]);
  const w = tensor(d.w, [16, 1, 4, 4]);
  const b = tensor(d.b, [16]);
  const y = conv2d(x, w, b, { variant: "fallback" });
  assertClose(await y.read(), conv2dRef(d.x, d.w, d.b, s), TOL);
  for (const t of [x, w, b, y]) t.dispose();
});

/**
 * Weights and bias of P rows laid out like the flat parameter buffer: row r of the weight at
 * `offset + r * stride`, the bias right after it, stride larger than both together.
 */
function flatParameters(P: number, s: Conv2dShape, seed: number) {
  const wNumel = s.cout * s.cin * s.kh * s.kw;
  const offset = 4;
  const stride = Math.ceil((offset + wNumel + s.cout + 5) / 64) * 64;
  const flat = uniformData(seed, P * stride, -0.5, 0.5);
  const buffer = tensor(flat, [P * stride]);
  const view = (shape: number[], off: number) =>
    Tensor.view(gpu, buffer.buffer, shape, { population: true, offset: off, rowStride: stride });
  const weight = view([P, s.cout, s.cin, s.kh, s.kw], offset);
  const bias = view([P, s.cout], offset + wNumel);
  const rowWeight = (r: number) => flat.subarray(offset + r * stride, offset + r * stride + wNumel);
  const rowBias = (r: number) =>
    flat.subarray(offset + wNumel + r * stride, offset + wNumel + r * stride + s.cout);
  return { buffer, weight, bias, rowWeight, rowBias, offset, stride, wNumel };
}

for (const variant of VARIANTS) {
  Deno.test(`conv2d (${variant}) evaluates population weights from strided views of a flat buffer`, async () => {
    await assertNoLeak(gpu, async () => {
      const P = 3;
      const s: Conv2dShape = { batch: 2, cin: 3, h: 9, w: 8, cout: 6, kh: 3, kw: 3, padding: 1 };
      const d = data(s, 21);
      const x = tensor(d.x, [s.batch, s.cin, s.h, s.w]); // shared data batch
      const f = flatParameters(P, s, 22);
      const y = conv2d(x, f.weight, f.bias, { padding: 1, variant });
      const [ho, wo] = conv2dOutSize(s);
      assert.deepEqual(y.shape, [P, s.batch, s.cout, ho, wo]);
      assert.equal(y.population, true);
      const got = await y.read();
      const n = s.batch * s.cout * ho * wo;
      for (let r = 0; r < P; r++) {
        const expected = conv2dRef(d.x, f.rowWeight(r), f.rowBias(r), s);
        assertClose(got.subarray(r * n, (r + 1) * n), expected, TOL, `row ${r}`);
      }
      for (const t of [x, f.weight, f.bias, f.buffer, y]) t.dispose();
    });
  });

  Deno.test(`conv2d (${variant}) combines population inputs with shared or population weights`, async () => {
    await assertNoLeak(gpu, async () => {
      const P = 2;
      const s: Conv2dShape = { batch: 1, cin: 4, h: 6, w: 7, cout: 9, kh: 2, kw: 3, stride: 2 };
      const xNumel = s.batch * s.cin * s.h * s.w;
      const xs = uniformData(31, P * xNumel);
      const x = tensor(xs, [P, s.batch, s.cin, s.h, s.w], { population: true });
      const d = data(s, 32);
      const w = tensor(d.w, [s.cout, s.cin, s.kh, s.kw]);
      const b = tensor(d.b, [s.cout]);
      const f = flatParameters(P, s, 33);
      const shared = conv2d(x, w, b, { stride: 2, variant });
      const both = conv2d(x, f.weight, f.bias, { stride: 2, variant });
      const [ho, wo] = conv2dOutSize(s);
      const n = s.batch * s.cout * ho * wo;
      const gotShared = await shared.read(), gotBoth = await both.read();
      for (let r = 0; r < P; r++) {
        const xr = xs.subarray(r * xNumel, (r + 1) * xNumel);
        const rows = [r * n, (r + 1) * n] as const;
        assertClose(gotShared.subarray(...rows), conv2dRef(xr, d.w, d.b, s), TOL, `shared ${r}`);
        assertClose(
          gotBoth.subarray(...rows),
          conv2dRef(xr, f.rowWeight(r), f.rowBias(r), s),
          TOL,
          `population ${r}`,
        );
      }
      for (const t of [x, w, b, f.weight, f.bias, f.buffer, shared, both]) t.dispose();
    });
  });

  Deno.test(`conv2d (${variant}) on P rows in one call equals P one-row calls`, async () => {
    await assertNoLeak(gpu, async () => {
      const P = 4;
      const s: Conv2dShape = { batch: 2, cin: 16, h: 12, w: 12, cout: 32, kh: 3, kw: 3 };
      const d = data(s, 41);
      const x = tensor(d.x, [s.batch, s.cin, s.h, s.w]);
      const f = flatParameters(P, s, 42);
      const y = conv2d(x, f.weight, f.bias, { variant });
      const all = await y.read();
      const n = all.length / P;
      for (let r = 0; r < P; r++) {
        const w = Tensor.view(gpu, f.buffer.buffer, [s.cout, s.cin, s.kh, s.kw], {
          offset: f.offset + r * f.stride,
        });
        const b = Tensor.view(gpu, f.buffer.buffer, [s.cout], {
          offset: f.offset + f.wNumel + r * f.stride,
        });
        const one = conv2d(x, w, b, { variant });
        assert.deepEqual([...await one.read()], [...all.subarray(r * n, (r + 1) * n)]);
        for (const t of [w, b, one]) t.dispose();
      }
      for (const t of [x, f.weight, f.bias, f.buffer, y]) t.dispose();
    });
  });
}

Deno.test("conv2d records one pack and one convolution dispatch for all rows", () => {
  const s: Conv2dShape = { batch: 2, cin: 1, h: 8, w: 8, cout: 16, kh: 4, kw: 4 };
  const x = tensor(uniformData(1, 128), [2, 1, 8, 8]);
  const f = flatParameters(5, s, 2);
  for (const [variant, dispatches] of [["fallback", 2], ["tiled", 1]] as const) {
    const before = gpu.stats.dispatches;
    const y = conv2d(x, f.weight, f.bias, { variant });
    assert.equal(gpu.stats.dispatches - before, dispatches, variant);
    y.dispose();
  }
  for (const t of [x, f.weight, f.bias, f.buffer]) t.dispose();
});

Deno.test("conv2d (fallback) repacks weights only after they are written, and frees the packing with them", async () => {
  const s: Conv2dShape = { batch: 2, cin: 3, h: 7, w: 7, cout: 8, kh: 3, kw: 3 };
  const P = 3;
  const d = data(s, 51);
  const x = tensor(d.x, [s.batch, s.cin, s.h, s.w]);
  const base = gpu.stats.bytesInUse;
  const f = flatParameters(P, s, 52);
  const run = async (expectedDispatches: number, what: string, weights: Float32Array) => {
    const before = gpu.stats.dispatches;
    const y = conv2d(x, f.weight, f.bias, { variant: "fallback" });
    assert.equal(gpu.stats.dispatches - before, expectedDispatches, what);
    const got = await y.read();
    const n = got.length / P;
    for (let r = 0; r < P; r++) {
      const w = weights.subarray(f.offset + r * f.stride, f.offset + r * f.stride + f.wNumel);
      const b = weights.subarray(f.offset + f.wNumel + r * f.stride).subarray(0, s.cout);
      assertClose(
        got.subarray(r * n, (r + 1) * n),
        conv2dRef(d.x, w, b, s),
        TOL,
        `${what}, row ${r}`,
      );
    }
    y.dispose();
  };
  const weights = new Float32Array(await f.buffer.read());
  await run(2, "first call packs", weights);
  await run(1, "unchanged weights reuse the packing", weights);
  // A kernel writing the buffer (copy of -2w + 0.25 into it) invalidates the packing,
  const scaledT = scale(f.buffer, -2, 0.25);
  copy(scaledT, f.buffer);
  const scaled = weights.map((v) => Math.fround(-2 * v + 0.25));
  await run(2, "after a kernel wrote the weights", scaled);
  await run(1, "then reused again", scaled);
  // and so do an upload
  const uploaded = uniformData(53, weights.length, -0.5, 0.5);
  gpu.write(f.buffer.buffer, 0, uploaded);
  await run(2, "after an upload", uploaded);
  // and a buffer-to-buffer copy.
  gpu.copy(scaledT.buffer, 0, f.buffer.buffer, 0, 4 * weights.length);
  await run(2, "after a copy into the buffer", scaled);
  scaledT.dispose();
  for (const t of [f.weight, f.bias]) t.dispose();
  f.buffer.dispose();
  assert.equal(gpu.stats.bytesInUse, base, "the packed weights went back to the pool with them");
  x.dispose();
});

Deno.test("conv2d rejects bad shapes with a TypeError naming them", () => {
  const x = tensor(new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
  const w = tensor(new Float32Array(4 * 3 * 3 * 3), [4, 3, 3, 3]);
  const w2 = tensor(new Float32Array(4 * 2 * 3 * 3), [4, 2, 3, 3]);
  const big = tensor(new Float32Array(4 * 3 * 6 * 6), [4, 3, 6, 6]);
  const b5 = tensor(new Float32Array(5), [5]);
  const flatX = tensor(new Float32Array(75), [3, 5, 5]);
  const p2 = tensor(new Float32Array(2 * 4 * 27), [2, 4, 3, 3, 3], { population: true });
  const px3 = tensor(new Float32Array(3 * 150), [3, 2, 3, 5, 5], { population: true });
  const named = (...parts: string[]) => (e: Error) =>
    e instanceof TypeError && parts.every((p) => e.message.includes(p));
  assert.throws(() => conv2d(x, w2), named("[2, 3, 5, 5]", "[4, 2, 3, 3]"));
  assert.throws(() => conv2d(flatX, w), named("[3, 5, 5]", "[4, 3, 3, 3]"));
  assert.throws(() => conv2d(x, w, b5), named("[5]", "[4, 3, 3, 3]"));
  assert.throws(() => conv2d(x, big), named("[4, 3, 6, 6]", "[2, 3, 5, 5]"));
  assert.throws(() => conv2d(px3, p2), TypeError);
  assert.throws(() => conv2d(x, w, undefined, { maxPool: 4 }), named("maxPool 4", "[2, 3, 5, 5]"));
  // The same kernel fits once padded.
  const y = conv2d(x, big, undefined, { padding: 1 });
  assert.deepEqual(y.shape, [2, 4, 2, 2]);
  for (const t of [x, w, w2, big, b5, flatX, p2, px3, y]) t.dispose();
});

Deno.test("conv2d rejects bad options with a RangeError naming option and value", () => {
  const x = tensor(new Float32Array(25), [1, 1, 5, 5]);
  const w = tensor(new Float32Array(9), [1, 1, 3, 3]);
  const ranged = (text: string) => (e: Error) => e instanceof RangeError && e.message === text;
  assert.throws(
    () => conv2d(x, w, undefined, { stride: 0 }),
    ranged("conv2d: stride must be an integer >= 1, received 0"),
  );
  assert.throws(
    () => conv2d(x, w, undefined, { padding: -1 }),
    ranged("conv2d: padding must be an integer >= 0, received -1"),
  );
  assert.throws(() => conv2d(x, w, undefined, { stride: 1.5 }), RangeError);
  assert.throws(
    () => conv2d(x, w, undefined, { maxPool: 0 }),
    ranged("conv2d: maxPool must be an integer >= 1, received 0"),
  );
  assert.throws(
    () => conv2d(x, w, undefined, { variant: "fast" as KernelVariant }),
    ranged('conv2d: variant must be "fallback" or "tiled", received fast'),
  );
  x.dispose();
  w.dispose();
});

Deno.test("chooseTile keeps the accumulators within the register budget", () => {
  const mnist = { ho: 10, wo: 10, kh: 3, kw: 3, stride: 1, cin: 16, cout: 32 };
  const { tw, th, nc } = chooseTile(mnist)!;
  assert.deepEqual({ tw, th, nc }, { tw: 5, th: 2, nc: 4 });
  for (const pool of [1, 2, 3]) {
    for (const cout of [1, 4, 7, 16, 64]) {
      for (const [ho, wo] of [[3, 3], [4, 4], [25, 25], [17, 9]]) {
        const t = chooseTile({ ho, wo, kh: 3, kw: 3, stride: 2, cin: 3, cout, pool })!;
        assert.ok(t.tw * t.th <= 12 && t.tw * t.th * t.nc <= 48, JSON.stringify(t));
        assert.ok(t.tw % pool === 0 && t.th % pool === 0, JSON.stringify(t));
      }
    }
  }
  assert.equal(chooseTile({ ...mnist, pool: 4 }), undefined);
});

/** relu(maxPool(conv(x))) on the CPU. */
function fusedRef(x: Float32Array, w: Float32Array, b: Float32Array, s: Conv2dShape, k: number) {
  const [ho, wo] = conv2dOutSize(s);
  const y = conv2dRef(x, w, b, s);
  return maxPool2dRef(y, { planes: s.batch * s.cout, h: ho, w: wo, kernelSize: k }, true);
}

const FUSED: (Case & { pool: number })[] = [
  { ...CASES[0], pool: 2 },
  { ...CASES[1], pool: 2 },
  { ...CASES[2], pool: 2 },
  { ...CASES[3], pool: 3 },
  { ...CASES[5], pool: 2, name: "a 5x3 kernel with padding 2 and an odd output" },
  { ...CASES[3], pool: 4, name: "a pool window too large to fuse" },
];

for (const c of FUSED) {
  for (const variant of VARIANTS) {
    Deno.test(`conv2d (${variant}) fuses maxPool ${c.pool} and relu on ${c.name}`, async () => {
      await assertNoLeak(gpu, async () => {
        const d = data(c, 51);
        const x = tensor(d.x, [c.batch, c.cin, c.h, c.w]);
        const w = tensor(d.w, [c.cout, c.cin, c.kh, c.kw]);
        const b = tensor(d.b, [c.cout]);
        const options = { stride: c.stride, padding: c.padding, maxPool: c.pool, variant };
        const y = conv2d(x, w, b, { ...options, relu: true });
        const [ho, wo] = conv2dOutSize(c);
        const hp = Math.floor(ho / c.pool), wp = Math.floor(wo / c.pool);
        assert.deepEqual(y.shape, [c.batch, c.cout, hp, wp]);
        assertClose(await y.read(), fusedRef(d.x, d.w, d.b, c, c.pool), TOL, c.name);
        for (const t of [x, w, b, y]) t.dispose();
      });
    });
  }
}

Deno.test("conv2d fuses a ReLU alone and pools population rows", async () => {
  await assertNoLeak(gpu, async () => {
    const P = 3;
    const s: Conv2dShape = { batch: 2, cin: 2, h: 11, w: 9, cout: 5, kh: 2, kw: 2 };
    const d = data(s, 61);
    const x = tensor(d.x, [s.batch, s.cin, s.h, s.w]);
    const f = flatParameters(P, s, 62);
    const [ho, wo] = conv2dOutSize(s);
    for (const variant of VARIANTS) {
      const relu = conv2d(x, f.weight, f.bias, { relu: true, variant });
      const pooled = conv2d(x, f.weight, f.bias, { maxPool: 2, variant });
      const gotRelu = await relu.read(), gotPooled = await pooled.read();
      const n = s.batch * s.cout * ho * wo, m = n / (ho * wo) * 5 * 4;
      for (let r = 0; r < P; r++) {
        const y = conv2dRef(d.x, f.rowWeight(r), f.rowBias(r), s);
        assertClose(gotRelu.subarray(r * n, (r + 1) * n), y.map((v) => Math.max(v, 0)), TOL);
        const g = { planes: s.batch * s.cout, h: ho, w: wo, kernelSize: 2 };
        assertClose(gotPooled.subarray(r * m, (r + 1) * m), maxPool2dRef(y, g), TOL);
      }
      relu.dispose();
      pooled.dispose();
    }
    for (const t of [x, f.weight, f.bias, f.buffer]) t.dispose();
  });
});

Deno.test("planRegions covers every stored pixel once, splitting an overhang only when it pays", () => {
  const conv2 = { ho: 10, wo: 10, kh: 3, kw: 3, stride: 1, cin: 16, cout: 32, pool: 2 };
  const conv1 = { ho: 25, wo: 25, kh: 4, kw: 4, stride: 1, cin: 1, cout: 16, pool: 2 };
  const cases = [
    { g: conv2, tile: chooseTile(conv2)! },
    { g: conv1, tile: chooseTile(conv1)! },
    // Overhangs down and across: up to four regions.
    { g: { ...conv2, ho: 11, wo: 13, pool: 1 }, tile: { th: 2, tw: 6, nc: 4 } },
    { g: { ...conv2, ho: 21, wo: 23, pool: 2 }, tile: { th: 4, tw: 2, nc: 4 } },
    { g: { ...conv2, ho: 17, wo: 16, pool: 3, padding: 1 }, tile: { th: 3, tw: 6, nc: 2 } },
  ];
  const counts = new Set<number>();
  for (const { g, tile } of cases) {
    for (const [images, blocks] of [[1, 1], [32, 2], [32, 40]]) {
      const regions = planRegions(g, tile, images, blocks);
      const what = `${JSON.stringify(g)} ×${images}×${blocks}: ${JSON.stringify(regions)}`;
      counts.add(regions.length);
      const pool = g.pool;
      const hp = Math.floor(g.ho / pool), wp = Math.floor(g.wo / pool);
      const hits = new Uint8Array(hp * wp);
      for (const r of regions) {
        assert.ok(r.th % pool === 0 && r.tw % pool === 0, what);
        assert.ok(r.th <= tile.th && r.tw <= tile.tw && [8, 16, 32, 64].includes(r.wg), what);
        for (let ty = 0; ty < r.tilesY; ty++) {
          for (let tx = 0; tx < r.tilesX; tx++) {
            for (let a = 0; a < r.th / pool; a++) {
              for (let k = 0; k < r.tw / pool; k++) {
                const py = r.y0 / pool + ty * (r.th / pool) + a;
                const px = r.x0 / pool + tx * (r.tw / pool) + k;
                if (py < hp && px < wp) hits[py * wp + px]++;
              }
            }
          }
        }
      }
      assert.ok(hits.every((h) => h === 1), what);
    }
  }
  assert.deepEqual([...counts].sort(), [1, 2, 4], "single, two- and four-region plans seen");
  // conv2's 1×3-pooled tiles overhang its 5×5 output: split for a batch of 32, not for 1 image.
  assert.equal(planRegions(conv2, cases[0].tile, 1, 1).length, 1);
  assert.equal(planRegions(conv2, cases[0].tile, 32, 2).length, 2);
  // conv1's tiles divide its output: never split.
  assert.equal(planRegions(conv1, cases[1].tile, 32, 40).length, 1);
});

Deno.test("conv2d (fallback) split into edge regions matches the CPU reference on a 16→32 k3 layer, batch 32", async () => {
  await assertNoLeak(gpu, async () => {
    const P = 3;
    // 16x16 inputs: 2x6-pixel tiles overhang the 7x7 pooled output (MNIST's own 12x12 conv2
    // now takes 2x10 tiles, its whole pooled width, and is not split).
    const s: Conv2dShape = { batch: 32, cin: 16, h: 16, w: 16, cout: 32, kh: 3, kw: 3 };
    const g = { ho: 14, wo: 14, kh: 3, kw: 3, stride: 1, cin: 16, cout: 32, pool: 2 };
    const tile = chooseTile({ ...g, maxPixels: 20 })!;
    const regions = planRegions(g, tile, 32, P * Math.ceil(32 / (4 * tile.nc)));
    assert.ok(regions.length > 1, "this call is split");
    const d = data(s, 71);
    const x = tensor(d.x, [s.batch, s.cin, s.h, s.w]);
    const f = flatParameters(P, s, 72);
    const before = gpu.stats.dispatches;
    const y = conv2d(x, f.weight, f.bias, { maxPool: 2, relu: true, variant: "fallback" });
    assert.equal(gpu.stats.dispatches - before, 1 + regions.length, "pack, whole tiles, edges");
    const got = await y.read();
    const n = got.length / P;
    for (let r = 0; r < P; r++) {
      const expected = fusedRef(d.x, f.rowWeight(r), f.rowBias(r), s, 2);
      assertClose(got.subarray(r * n, (r + 1) * n), expected, TOL, `row ${r}`);
    }
    for (const t of [x, f.weight, f.bias, f.buffer, y]) t.dispose();
  });
});

Deno.test("conv2d (fallback) split along the bottom edge matches the CPU reference", async () => {
  await assertNoLeak(gpu, async () => {
    const P = 4;
    const s: Conv2dShape = { batch: 8, cin: 4, h: 15, w: 30, cout: 16, kh: 3, kw: 3 };
    const g = { ho: 13, wo: 28, kh: 3, kw: 3, stride: 1, cin: 4, cout: 16 };
    const regions = planRegions(g, chooseTile(g)!, 8, P);
    assert.ok(regions.some((r) => r.y0 > 0), JSON.stringify(regions));
    const d = data(s, 81);
    const x = tensor(d.x, [s.batch, s.cin, s.h, s.w]);
    const f = flatParameters(P, s, 82);
    const y = conv2d(x, f.weight, f.bias, { variant: "fallback" });
    const got = await y.read();
    const n = got.length / P;
    for (let r = 0; r < P; r++) {
      assertClose(
        got.subarray(r * n, (r + 1) * n),
        conv2dRef(d.x, f.rowWeight(r), f.rowBias(r), s),
        TOL,
      );
    }
    for (const t of [x, f.weight, f.bias, f.buffer, y]) t.dispose();
  });
});
