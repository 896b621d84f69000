// Ops on tensors larger than one storage binding: split dispatches over ranges of rows or items
// (src/ops/_chunks.ts) give the unsplit results bit for bit. The binding limit is lowered
// through `gpu.maxBindingSize` so that small tensors exercise the split.

import { planChunks } from "../../src/ops/_chunks.ts";
import { conv2d } from "../../src/ops/conv2d.ts";
import { add, broadcastRow, copyRows, relu } from "../../src/ops/elementwise.ts";
import { accuracyCount, crossEntropy, mseLoss, softmax } from "../../src/ops/loss.ts";
import { linear, matmul } from "../../src/ops/matmul.ts";
import { avgPool2d, maxPool2d } from "../../src/ops/pool.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import { assert, gpu, uniformData } from "../_util.ts";

/** Runs `fn` with the binding limit lowered to `bytes`, restoring it after. */
async function withLimit<T>(bytes: number, fn: () => Promise<T>): Promise<T> {
  const saved = gpu.maxBindingSize;
  gpu.maxBindingSize = bytes;
  try {
    return await fn();
  } finally {
    gpu.maxBindingSize = saved;
  }
}

/** Output of `op` read back, and the dispatches it recorded. */
async function run(op: () => Tensor): Promise<{ values: Float32Array; dispatches: number }> {
  const before = gpu.stats.dispatches;
  const out = op();
  const dispatches = gpu.stats.dispatches - before;
  const values = await out.read();
  out.dispose();
  return { values, dispatches };
}

/** Same bits, NaN payloads included. */
function assertSameBits(actual: Float32Array, expected: Float32Array, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  const bad = a.findIndex((v, i) => v !== e[i]);
  assert.equal(bad, -1, `${label}: first difference at ${bad}: ${actual[bad]} vs ${expected[bad]}`);
}

/** Compares `op` unsplit and under each lowered limit; returns the dispatch counts. */
async function assertSplitExact(
  label: string,
  op: () => Tensor,
  limits: number[],
): Promise<number[]> {
  const whole = await run(op);
  const counts = [whole.dispatches];
  for (const limit of limits) {
    const split = await withLimit(limit, () => run(op));
    assertSameBits(split.values, whole.values, `${label} at ${limit} bytes`);
    counts.push(split.dispatches);
  }
  return counts;
}

/** A population view `[rows, ...shape]` inside a flat buffer with gaps, like parameters. */
function strided(seed: number, rows: number, shape: number[], offset = 8, gap = 24): Tensor[] {
  const numel = shape.reduce((a, b) => a * b, 1);
  const stride = numel + gap;
  const flat = tensor(uniformData(seed, offset + rows * stride), [offset + rows * stride]);
  const view = Tensor.view(gpu, flat.buffer, [rows, ...shape], {
    population: true,
    offset,
    rowStride: stride,
  });
  return [view, flat];
}

Deno.test("planChunks returns the whole buffers and offsets when everything fits", () => {
  const a = tensor(uniformData(1, 64), [64]);
  const chunks = planChunks(
    gpu,
    "test",
    [
      { name: "a", buffer: a.buffer, off: 3, stride: 16, item: 4, span: 4 },
    ],
    4,
    4,
  );
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0].bindings[0], a.buffer);
  assert.deepEqual(chunks[0].offs, [3]);
  assert.deepEqual([chunks[0].rows, chunks[0].items], [4, 4]);
  a.dispose();
});

Deno.test("planChunks splits rows, then items, into aligned ranges within the limit", async () => {
  const n = 4096; // 16 KiB
  const a = tensor(uniformData(2, n), [n]);
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  await withLimit(4096, () => {
    // 8 rows of 512 elements (2 KiB): rows per chunk bounded by the limit and the alignment slack.
    const rows = planChunks(
      gpu,
      "test",
      [
        { name: "a", buffer: a.buffer, off: 5, stride: 512, span: 500 },
      ],
      8,
      1,
    );
    assert.ok(rows.length > 1);
    let next = 0;
    for (const c of rows) {
      assert.equal(c.row, next);
      next += c.rows;
      const range = c.bindings[0] as { offset: number; size: number };
      assert.equal(range.offset % align, 0);
      assert.ok(range.size <= 4096);
      // The rebased offset points at the same element.
      assert.equal(range.offset / 4 + c.offs[0], 5 + c.row * 512);
    }
    assert.equal(next, 8);
    // One row of 16 items of 200 elements (12.5 KiB) does not fit: split along the items.
    const items = planChunks(
      gpu,
      "test",
      [
        { name: "a", buffer: a.buffer, off: 0, stride: 0, item: 200, span: 200 },
      ],
      1,
      16,
    );
    assert.ok(items.length > 1);
    assert.equal(items.reduce((s, c) => s + c.items, 0), 16);
    for (const c of items) {
      const range = c.bindings[0] as { offset: number; size: number };
      assert.equal(range.offset / 4 + c.offs[0], c.item * 200);
      assert.ok(range.size <= 4096);
    }
    return Promise.resolve();
  });
  a.dispose();
});

Deno.test("planChunks names the operand, bytes and limit when one item cannot fit", async () => {
  const a = tensor(uniformData(3, 2048), [2048]);
  await withLimit(1024, () => {
    assert.throws(
      () =>
        planChunks(
          gpu,
          "conv2d",
          [
            { name: "x", buffer: a.buffer, off: 0, stride: 0, item: 1024, span: 1024 },
          ],
          1,
          2,
          { itemName: "image" },
        ),
      (e: Error) =>
        e instanceof RangeError &&
        /conv2d: one image of x needs 4096 bytes, more than the device's 1024-byte/.test(
          e.message,
        ),
    );
    assert.throws(
      () =>
        planChunks(
          gpu,
          "cross_entropy_rows",
          [
            { name: "input", buffer: a.buffer, off: 0, stride: 512, item: 4, span: 4 },
          ],
          4,
          128,
          { splitItems: false },
        ),
      /one row of input needs 2048 bytes/,
    );
    return Promise.resolve();
  });
  a.dispose();
});

Deno.test("conv2d split over rows and images equals the single dispatch bit for bit", async () => {
  const P = 5, B = 6;
  const cases = [
    { cin: 1, h: 28, w: 28, cout: 16, k: 4, options: { maxPool: 2, relu: true } },
    { cin: 16, h: 12, w: 12, cout: 32, k: 3, options: { maxPool: 2, relu: true } },
    { cin: 3, h: 11, w: 9, cout: 7, k: 3, options: { padding: 1, stride: 2 } },
    { cin: 3, h: 11, w: 9, cout: 7, k: 3, options: { padding: 1, variant: "tiled" as const } },
  ];
  for (const [i, c] of cases.entries()) {
    const shared = i === 0;
    const x = shared
      ? tensor(uniformData(10 + i, B * c.cin * c.h * c.w), [B, c.cin, c.h, c.w])
      : tensor(uniformData(10 + i, P * B * c.cin * c.h * c.w), [P, B, c.cin, c.h, c.w], {
        population: true,
      });
    const [w, wFlat] = strided(20 + i, P, [c.cout, c.cin, c.k, c.k]);
    const [b, bFlat] = strided(30 + i, P, [c.cout]);
    // Bytes of one image of the input and of the output, of one row of the output.
    const pooled = c.options.maxPool === 2;
    const stride = c.options.stride ?? 1, pad = c.options.padding ?? 0;
    let ho = Math.floor((c.h + 2 * pad - c.k) / stride) + 1;
    let wo = Math.floor((c.w + 2 * pad - c.k) / stride) + 1;
    if (pooled) [ho, wo] = [Math.floor(ho / 2), Math.floor(wo / 2)];
    const image = Math.max(c.cin * c.h * c.w, c.cout * ho * wo, c.cout * c.cin * c.k * c.k) * 4;
    const outRow = B * c.cout * ho * wo * 4;
    const counts = await assertSplitExact(
      `conv2d case ${i}`,
      () => conv2d(x, w, b, c.options),
      // a few rows per dispatch; then one row does not fit and images are split
      [Math.ceil((2.5 * outRow) / 1024) * 1024, Math.ceil((image + 1024) / 1024) * 1024],
    );
    assert.ok(counts[1] > counts[0] && counts[2] > counts[0], `case ${i}: ${counts}`);
    for (const t of [x, w, wFlat, b, bFlat]) t.dispose();
  }
});

Deno.test("maxPool2d and avgPool2d split over rows and planes equal the single dispatch", async () => {
  const x = tensor(uniformData(40, 3 * 4 * 5 * 9 * 11), [3, 4, 5, 9, 11], { population: true });
  for (
    const op of [
      () => maxPool2d(x, { kernelSize: 2, relu: true }),
      () => avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }),
    ]
  ) {
    const counts = await assertSplitExact("pool", op, [8192, 1024]);
    assert.ok(counts[1] > 1 && counts[2] > counts[1], `${counts}`);
  }
  x.dispose();
});

Deno.test("linear and matmul split over rows and matrix rows equal the single dispatch", async () => {
  const P = 4, M = 37, K = 24, N = 10;
  const x = tensor(uniformData(50, P * M * K), [P, M, K], { population: true });
  const [w, wFlat] = strided(51, P, [N, K], 8, 40);
  const [b, bFlat] = strided(52, P, [N]);
  const xs = tensor(uniformData(53, 150 * 7), [150, 7]); // scalar path: K = 7
  const ws = tensor(uniformData(54, P * 7 * N), [P, 7, N], { population: true });
  for (
    const [label, op] of [
      ["linear vec4", () => linear(x, w, b)],
      ["linear tiled", () => linear(x, w, b, { variant: "tiled" })],
      ["matmul scalar", () => matmul(xs, ws)],
    ] as const
  ) {
    const counts = await assertSplitExact(label, op, [8192, 2048]);
    assert.ok(counts[1] > counts[0] && counts[2] > counts[1], `${label}: ${counts}`);
  }
  for (const t of [x, w, wFlat, b, bFlat, xs, ws]) t.dispose();
});

Deno.test("matmul takes more than 65535 population rows in several dispatches", async () => {
  const rows = 65536 + 3;
  const a = tensor(uniformData(55, rows * 2), [rows, 1, 2], { population: true });
  const c = tensor([1, 2, 3, 4], [2, 2]);
  const { values, dispatches } = await run(() => matmul(a, c));
  assert.equal(dispatches, 2);
  const av = await a.read();
  for (const r of [0, 1, 65534, 65535, 65536, rows - 1]) {
    const [x0, x1] = [av[2 * r], av[2 * r + 1]];
    assert.equal(values[2 * r], Math.fround(Math.fround(x0 * 1) + Math.fround(x1 * 3)));
    assert.equal(values[2 * r + 1], Math.fround(Math.fround(x0 * 2) + Math.fround(x1 * 4)));
  }
  for (const t of [a, c]) t.dispose();
});

Deno.test("elementwise ops, copyRows and broadcastRow split over rows and elements", async () => {
  const P = 6, n = 700;
  const a = tensor(uniformData(60, P * n), [P, n], { population: true });
  const s = tensor(uniformData(61, n), [n]);
  for (const [label, op] of [["relu", () => relu(a)], ["add", () => add(a, s, 0.5)]] as const) {
    const counts = await assertSplitExact(label, op, [8192, 1024]);
    assert.ok(counts[1] > 1 && counts[2] > counts[1], `${label}: ${counts}`);
  }
  const source = await a.read();
  const moved = async (edit: (t: Tensor) => void) => {
    const t = tensor(source, [P, n], { population: true });
    edit(t);
    const out = await t.read();
    t.dispose();
    return out;
  };
  for (
    const [label, edit] of [
      ["copyRows", (t: Tensor) => copyRows(t, 0, 3, 3)],
      ["broadcastRow", (t: Tensor) => broadcastRow(t, 2)],
    ] as const
  ) {
    const whole = await moved(edit);
    for (const limit of [8192, 1024]) {
      assertSameBits(await withLimit(limit, () => moved(edit)), whole, `${label} at ${limit}`);
    }
  }
  for (const t of [a, s]) t.dispose();
});

Deno.test("losses and softmax split over rows and vectors equal the single dispatch", async () => {
  const P = 7, B = 50, C = 10;
  const logits = tensor(uniformData(70, P * B * C, -3, 3), [P, B, C], { population: true });
  const labels = tensor(Array.from({ length: B }, (_, i) => (i * 3) % C), [B]);
  const pred = tensor(uniformData(71, P * 300), [P, 300], { population: true });
  const target = tensor(uniformData(72, 300), [300]);
  // Per-row reductions split rows only; per-vector kernels also split a row's vectors.
  for (
    const [label, op, perVector] of [
      ["crossEntropy mean", () => crossEntropy(logits, labels), false],
      ["crossEntropy none", () => crossEntropy(logits, labels, { reduction: "none" }), true],
      ["accuracyCount", () => accuracyCount(logits, labels), false],
      ["softmax", () => softmax(logits), true],
      ["mseLoss sum", () => mseLoss(pred, target, { reduction: "sum" }), false],
      ["mseLoss none", () => mseLoss(pred, target, { reduction: "none" }), true],
    ] as const
  ) {
    const counts = await assertSplitExact(label, op, perVector ? [4096, 1024] : [4096]);
    assert.ok(counts.slice(1).every((n) => n > counts[0]), `${label}: ${counts}`);
  }
  for (const t of [logits, labels, pred, target]) t.dispose();
});

Deno.test("ops that fit one binding record the same dispatches as before", async () => {
  const x = tensor(uniformData(80, 2 * 3 * 12 * 12), [2, 3, 12, 12]);
  const w = tensor(uniformData(81, 8 * 3 * 9), [8, 3, 3, 3]);
  const { dispatches } = await run(() => conv2d(x, w, undefined, { maxPool: 2, relu: true }));
  const again = await run(() => conv2d(x, w, undefined, { maxPool: 2, relu: true }));
  assert.ok(dispatches <= 2, `${dispatches}`); // packing (first call) + one direct dispatch
  assert.equal(again.dispatches, 1);
  for (const t of [x, w]) t.dispose();
});

Deno.test("a tensor beyond maxBufferSize is a RangeError naming its shape and the limit", () => {
  const max = gpu.limits.maxBufferSize;
  const rows = Math.ceil(max / 4 / 1e6) + 1;
  assert.throws(
    () => Tensor.empty([rows, 1e6], { population: true }),
    (e: Error) =>
      e instanceof RangeError && e.message.includes(`[${rows}, 1000000]`) &&
      e.message.includes(`maxBufferSize of ${max} bytes`) && /smaller population/.test(e.message),
  );
});

Deno.test("maxBindingSize rejects values outside [1024, the device limit]", () => {
  for (const bad of [0, 1000, 1026, gpu.limits.maxStorageBufferBindingSize + 4, 1501.5]) {
    assert.throws(() => {
      gpu.maxBindingSize = bad;
    }, RangeError);
  }
  assert.equal(gpu.maxBindingSize, gpu.limits.maxStorageBufferBindingSize);
});
