import type { KernelVariant } from "../../src/gpu/device.ts";
import { linear, matmul } from "../../src/ops/matmul.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import { linearRef, matmulRef } from "../ref/matmul.ts";
import { assert, assertClose, assertNoLeak, gpu, uniformData } from "../_util.ts";

const VARIANTS: KernelVariant[] = ["fallback", "tiled"];
const TOL = { rtol: 1e-5, atol: 1e-5 };

/** [M, N, K]: odd sizes take the fallback's scalar path, multiples of 4 its vec4 path. */
const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [7, 5, 3],
  [33, 17, 9],
  [37, 20, 68],
  [64, 64, 64],
  [65, 130, 67],
  [96, 88, 20], // enough tiles for the fallback's large workgroups
];

/** Packs `rows` matrices into one buffer at `offset` with `rowStride` (garbage in the gaps). */
function stridedView(
  data: Float32Array,
  rows: number,
  shape: number[],
  offset: number,
  rowStride: number,
): { base: Tensor; view: Tensor } {
  const numel = data.length / rows;
  const flat = new Float32Array(offset + rows * rowStride);
  flat.fill(1e3); // garbage that must never be read
  for (let r = 0; r < rows; r++) {
    flat.set(data.subarray(r * numel, (r + 1) * numel), offset + r * rowStride);
  }
  const base = tensor(flat);
  const view = Tensor.view(gpu, base.buffer, [rows, ...shape], {
    population: true,
    offset,
    rowStride,
  });
  return { base, view };
}

for (const variant of VARIANTS) {
  for (const [M, N, K] of SIZES) {
    for (const transB of [false, true]) {
      Deno.test(
        `matmul (${variant}) matches the CPU for ${M}x${N}x${K}${transB ? " with transB" : ""}`,
        async () => {
          await assertNoLeak(gpu, async () => {
            const ad = uniformData(M * 31 + K, M * K), bd = uniformData(N * 17 + K, K * N);
            const biasd = uniformData(N + 5, N);
            const a = tensor(ad, [M, K]);
            const b = tensor(bd, transB ? [N, K] : [K, N]);
            const bias = tensor(biasd, [N]);
            const plain = matmul(a, b, { transB, variant });
            const biased = matmul(a, b, { transB, bias, variant });
            assert.deepEqual(plain.shape, [M, N]);
            assert.equal(plain.population, false);
            const opts = { m: M, n: N, k: K, transB };
            assertClose(await plain.read(), matmulRef(ad, bd, opts), TOL, "no bias");
            assertClose(
              await biased.read(),
              matmulRef(ad, bd, { ...opts, bias: biasd }),
              TOL,
              "bias",
            );
            for (const t of [a, b, bias, plain, biased]) t.dispose();
          });
        },
      );
    }
  }

  for (const P of [1, 3]) {
    Deno.test(
      `matmul (${variant}) broadcasts shared operands over ${P} population rows`,
      async () => {
        await assertNoLeak(gpu, async () => {
          const [M, N, K] = [9, 12, 20];
          const ap = uniformData(1, P * M * K), as = uniformData(2, M * K);
          const bp = uniformData(3, P * K * N), bs = uniformData(4, K * N);
          const biasp = uniformData(5, P * N);
          const aPop = tensor(ap, [P, M, K], { population: true });
          const aShared = tensor(as, [M, K]);
          const bPop = tensor(bp, [P, K, N], { population: true });
          const bShared = tensor(bs, [K, N]);
          const biasPop = tensor(biasp, [P, N], { population: true });
          const base = { m: M, n: N, k: K, rows: P };
          const cases: [string, Tensor, Float32Array][] = [
            [
              "pop a, shared b",
              matmul(aPop, bShared, { variant }),
              matmulRef(ap, bs, {
                ...base,
                aPop: true,
              }),
            ],
            [
              "shared a, pop b",
              matmul(aShared, bPop, { variant }),
              matmulRef(as, bp, {
                ...base,
                bPop: true,
              }),
            ],
            [
              "pop a, pop b",
              matmul(aPop, bPop, { variant }),
              matmulRef(ap, bp, {
                ...base,
                aPop: true,
                bPop: true,
              }),
            ],
            [
              "shared a, shared b, pop bias",
              matmul(aShared, bShared, { bias: biasPop, variant }),
              matmulRef(as, bs, { ...base, bias: biasp, biasPop: true }),
            ],
          ];
          for (const [label, out, expected] of cases) {
            assert.deepEqual(out.shape, [P, M, N], label);
            assert.equal(out.population, true, label);
            assertClose(await out.read(), expected, TOL, label);
            out.dispose();
          }
          for (const t of [aPop, aShared, bPop, bShared, biasPop]) t.dispose();
        });
      },
    );
  }

  // offset 8 / stride 1000 keep the fallback's vec4 path; offset 3 / stride 997 force scalars.
  for (const [offset, rowStride] of [[8, 1000], [3, 997]]) {
    for (const transB of [false, true]) {
      Deno.test(
        `matmul (${variant}) reads strided population views at offset ${offset}, ` +
          `row stride ${rowStride}${transB ? " with transB" : ""}`,
        async () => {
          await assertNoLeak(gpu, async () => {
            const [P, M, N, K] = [4, 33, 20, 24];
            const ad = uniformData(11, P * M * K), wd = uniformData(12, P * K * N);
            const biasd = uniformData(13, P * N);
            const a = tensor(ad, [P, M, K], { population: true });
            const w = stridedView(wd, P, transB ? [N, K] : [K, N], offset, rowStride);
            const bias = stridedView(biasd, P, [N], offset + 1, rowStride);
            const out = matmul(a, w.view, { transB, bias: bias.view, variant });
            const expected = matmulRef(ad, wd, {
              m: M,
              n: N,
              k: K,
              rows: P,
              aPop: true,
              bPop: true,
              transB,
              bias: biasd,
              biasPop: true,
            });
            assertClose(await out.read(), expected, TOL);
            for (const t of [a, w.view, w.base, bias.view, bias.base, out]) t.dispose();
          });
        },
      );
    }
  }

  Deno.test(`matmul (${variant}) on P rows equals P one-row calls`, async () => {
    await assertNoLeak(gpu, async () => {
      const [P, M, N, K] = [5, 7, 10, 16];
      const offset = 4, rowStride = 256;
      const xd = uniformData(21, M * K), wd = uniformData(22, P * N * K);
      const x = tensor(xd, [M, K]);
      const w = stridedView(wd, P, [N, K], offset, rowStride);
      const batched = matmul(x, w.view, { transB: true, variant });
      const all = await batched.read();
      for (let r = 0; r < P; r++) {
        const row = Tensor.view(gpu, w.base.buffer, [N, K], { offset: offset + r * rowStride });
        const one = matmul(x, row, { transB: true, variant });
        assert.deepEqual(one.shape, [M, N]);
        // Same kernel, same order of operations: bit-identical.
        assert.deepEqual(await one.read(), all.subarray(r * M * N, (r + 1) * M * N));
        one.dispose();
        row.dispose();
      }
      for (const t of [x, w.view, w.base, batched]) t.dispose();
    });
  });

  for (const B of [1, 32]) {
    Deno.test(`linear (${variant}) matches torch's F.linear with batch ${B}`, async () => {
      await assertNoLeak(gpu, async () => {
        const [P, inF, outF] = [3, 50, 10];
        const xd = uniformData(31, B * inF), wd = uniformData(32, P * outF * inF);
        const biasd = uniformData(33, P * outF);
        const x = tensor(xd, [B, inF]);
        const w = stridedView(wd, P, [outF, inF], 4, 1024);
        const bias = stridedView(biasd, P, [outF], 4 + outF * inF + 2, 1024);
        const y = linear(x, w.view, bias.view, { variant });
        assert.deepEqual(y.shape, [P, B, outF]);
        const expected = linearRef(xd, wd, {
          batch: B,
          inF,
          outF,
          rows: P,
          wPop: true,
          bias: biasd,
          biasPop: true,
        });
        assertClose(await y.read(), expected, TOL);
        // Shared weight without bias, population input.
        const xp = tensor(uniformData(34, P * B * inF), [P, B, inF], { population: true });
        const w0 = tensor(wd.subarray(0, outF * inF), [outF, inF]);
        const y2 = linear(xp, w0, undefined, { variant });
        const expected2 = linearRef(uniformData(34, P * B * inF), wd.subarray(0, outF * inF), {
          batch: B,
          inF,
          outF,
          rows: P,
          xPop: true,
        });
        assertClose(await y2.read(), expected2, TOL);
        for (const t of [x, w.view, w.base, bias.view, bias.base, y, xp, w0, y2]) t.dispose();
      });
    });
  }
}

Deno.test("matmul reads a view of a buffer whose size is not a multiple of 16", async () => {
  const [M, N, K] = [3, 4, 8];
  const ad = uniformData(41, M * K), bd = uniformData(42, K * N);
  const raw = gpu.device.createBuffer({
    size: (M * K + 1) * 4, // 100 bytes: the vec4 binding ends in a partial vec4
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
  gpu.write(raw, 4, new Float32Array(ad));
  const a = Tensor.view(gpu, raw, [M, K], { offset: 1 }); // unaligned: scalar path
  const aligned = Tensor.view(gpu, raw, [M - 1, K], { offset: 4 }); // aligned: vec4 path
  const b = tensor(bd, [K, N]);
  for (const variant of VARIANTS) {
    const out = matmul(a, b, { variant });
    assertClose(await out.read(), matmulRef(ad, bd, { m: M, n: N, k: K }), TOL, variant);
    const out2 = matmul(aligned, b, { variant });
    const expected2 = matmulRef(ad.subarray(3), bd, { m: M - 1, n: N, k: K });
    assertClose(await out2.read(), expected2, TOL, `${variant} aligned`);
    out.dispose();
    out2.dispose();
  }
  for (const t of [a, aligned, b]) t.dispose();
  raw.destroy();
});

Deno.test("matmul with K = 0 returns the bias", async () => {
  for (const variant of VARIANTS) {
    const a = Tensor.empty([3, 0], { gpu }), b = Tensor.empty([0, 2], { gpu });
    const bias = tensor([1, 2], [2]);
    const out = matmul(a, b, { bias, variant });
    assert.deepEqual([...await out.read()], [1, 2, 1, 2, 1, 2]);
    for (const t of [a, b, bias, out]) t.dispose();
  }
});

Deno.test("matmul rejects mismatched shapes with a TypeError naming both", () => {
  const a = tensor(uniformData(1, 6), [2, 3]);
  const b = tensor(uniformData(2, 8), [4, 2]);
  const v = tensor(uniformData(3, 3), [3]);
  const p2 = Tensor.empty([2, 2, 3], { gpu, population: true });
  const p3 = Tensor.empty([3, 3, 2], { gpu, population: true });
  try {
    assert.throws(
      () => matmul(a, b),
      (e: Error) => e instanceof TypeError && /\[2, 3\].*\[4, 2\]/.test(e.message),
    );
    assert.throws(() => matmul(a, b, { transB: true }), TypeError); // [2,3] @ [2,4]ᵀ: 3 vs 2
    assert.throws(() => matmul(v, b), /a must be \[M, K\]/);
    assert.throws(() => matmul(a, v), TypeError);
    assert.throws(() => matmul(p2, p3), /population sizes differ/);
    const c = tensor(uniformData(4, 6), [3, 2]);
    assert.throws(() => matmul(a, c, { bias: v }), (e: Error) => e instanceof TypeError);
    assert.throws(() => linear(a, b), (e: Error) => /x \[2, 3\].*weight/.test(e.message));
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => matmul(a, c, { variant: "fast" as any }),
      (e: Error) => e instanceof RangeError && /variant.*fast/.test(e.message),
    );
    c.dispose();
  } finally {
    for (const t of [a, b, v, p2, p3]) t.dispose();
  }
});
