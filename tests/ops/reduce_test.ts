import { argmax, max, mean, type ReduceOptions, SPLIT_ABOVE, sum } from "../../src/ops/reduce.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import { type ReduceKind, reduceRef } from "../ref/reduce.ts";
import { assert, assertClose, assertNoLeak, gpu, uniformData } from "../_util.ts";

const OPS = { sum, mean, max, argmax };
const KINDS: ReduceKind[] = ["sum", "mean", "max", "argmax"];
/** f32 compensated sums of at most a few thousand O(1) terms vs float64. */
const TOL = { rtol: 2e-6, atol: 2e-6 };
const EXACT = { rtol: 0, atol: 0 };

function tol(kind: ReduceKind) {
  return kind === "sum" || kind === "mean" ? TOL : EXACT;
}

/** Packs `rows` rows into one buffer at `offset` with `rowStride` (garbage in the gaps). */
function stridedView(
  data: Float32Array,
  rows: number,
  rowShape: number[],
  offset: number,
  rowStride: number,
): { base: Tensor; view: Tensor } {
  const numel = data.length / rows;
  const flat = new Float32Array(offset + rows * rowStride).fill(1e3);
  for (let r = 0; r < rows; r++) {
    flat.set(data.subarray(r * numel, (r + 1) * numel), offset + r * rowStride);
  }
  const base = tensor(flat);
  const view = Tensor.view(gpu, base.buffer, [rows, ...rowShape], {
    population: true,
    offset,
    rowStride,
  });
  return { base, view };
}

const SHAPES: number[][] = [[1], [7], [33, 17], [4, 5, 6]];

for (const shape of SHAPES) {
  Deno.test(`sum, mean, max and argmax match the CPU on ${shape.join("x")} along every axis`, async () => {
    await assertNoLeak(gpu, async () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = uniformData(n + shape.length, n, -3, 3);
      const x = tensor(data, shape);
      for (const kind of KINDS) {
        const all = OPS[kind](x);
        assert.deepEqual(all.shape, []);
        assertClose(await all.read(), reduceRef(kind, data, [1, n], 1), tol(kind), `${kind} all`);
        all.dispose();
        for (let axis = -shape.length; axis < shape.length; axis++) {
          const a = axis < 0 ? axis + shape.length : axis;
          const out = OPS[kind](x, { axis });
          assert.deepEqual(out.shape, shape.filter((_, i) => i !== a));
          assert.equal(out.population, false);
          assertClose(
            await out.read(),
            reduceRef(kind, data, shape, a),
            tol(kind),
            `${kind} ${axis}`,
          );
          out.dispose();
        }
      }
      x.dispose();
    });
  });
}

for (const P of [1, 3]) {
  Deno.test(`sum, mean, max and argmax reduce a strided population view of ${P} rows`, async () => {
    await assertNoLeak(gpu, async () => {
      const rowShape = [33, 17];
      const rowNumel = 33 * 17;
      const data = uniformData(40 + P, P * rowNumel, -2, 2);
      const { base, view } = stridedView(data, P, rowShape, 5, rowNumel + 11);
      const full = [P, ...rowShape];
      for (const kind of KINDS) {
        const perRow = OPS[kind](view);
        assert.deepEqual(perRow.shape, [P]);
        assert.equal(perRow.population, true);
        const expected = reduceRef(kind, data, [P, rowNumel], 1);
        assertClose(await perRow.read(), expected, tol(kind), `${kind} per row`);
        perRow.dispose();
        for (const axis of [0, 1, 2, -1]) {
          const a = axis < 0 ? axis + 3 : axis;
          const out = OPS[kind](view, { axis });
          assert.equal(out.population, a !== 0, `${kind} axis ${axis} population`);
          assert.deepEqual(out.shape, full.filter((_, i) => i !== a));
          assertClose(
            await out.read(),
            reduceRef(kind, data, full, a),
            tol(kind),
            `${kind} ${axis}`,
          );
          out.dispose();
        }
      }
      base.dispose();
    });
  });
}

Deno.test("sum keepDims keeps the reduced axes as size 1", async () => {
  await assertNoLeak(gpu, async () => {
    const data = uniformData(3, 2 * 3 * 4);
    const x = tensor(data, [2, 3, 4], { population: true });
    const cases: [ReduceOptions, number[], number[], number][] = [
      [{ keepDims: true }, [2, 1, 1], [2, 12], 1],
      [{ axis: -1, keepDims: true }, [2, 3, 1], [2, 3, 4], 2],
      [{ axis: 1, keepDims: true }, [2, 1, 4], [2, 3, 4], 1],
      [{ axis: 0, keepDims: true }, [1, 3, 4], [2, 3, 4], 0],
    ];
    for (const [options, shape, refShape, refAxis] of cases) {
      const out = sum(x, options);
      assert.deepEqual(out.shape, shape, JSON.stringify(options));
      assertClose(await out.read(), reduceRef("sum", data, refShape, refAxis), TOL);
      out.dispose();
    }
    x.dispose();
  });
});

Deno.test("sum over P rows in one call equals P one-row calls bit for bit", async () => {
  await assertNoLeak(gpu, async () => {
    const P = 5, B = 32;
    const data = uniformData(77, P * B, 0, 3);
    const { base, view } = stridedView(data, P, [B], 3, B + 4);
    const allT = sum(view);
    const all = await allT.read();
    allT.dispose();
    for (let r = 0; r < P; r++) {
      const row = Tensor.view(gpu, base.buffer, [B], { offset: 3 + r * (B + 4) });
      const one = sum(row);
      assert.equal(all[r], await one.item(), `row ${r}`);
      one.dispose();
      row.dispose();
    }
    base.dispose();
  });
});

Deno.test("max and argmax treat NaN as the maximum and keep the first of equal maxima", async () => {
  await assertNoLeak(gpu, async () => {
    const rows = [
      [1, 5, 5, 2],
      [NaN, 1, 2, 3],
      [1, 2, 3, NaN],
      [1, NaN, 9, NaN],
      [-Infinity, -7, -7, -Infinity],
    ];
    const x = tensor(rows.flat(), [5, 4]);
    const m = max(x, { axis: 1 }), i = argmax(x, { axis: -1 }), col = argmax(x, { axis: 0 });
    assertClose(await m.read(), [5, NaN, NaN, NaN, -7], EXACT, "max");
    assert.deepEqual([...await i.read()], [1, 0, 3, 1, 1]);
    assert.deepEqual([...await col.read()], [1, 3, 3, 2]);
    for (const t of [x, m, i, col]) t.dispose();
  });
});

Deno.test("max and argmax take two passes on a long axis and keep NaN and first-max rules", async () => {
  await assertNoLeak(gpu, async () => {
    const n = 3 * SPLIT_ABOVE + 5;
    const data = uniformData(9, 2 * n, -1, 1);
    data[100] = 7; // row 0: the first of two equal maxima, in different chunks
    data[n - 2] = 7;
    data[n + n - 1] = NaN; // row 1: NaN in the last chunk
    data[n + 3000] = 50;
    const x = tensor(data, [2, n], { population: true });
    const m = max(x), i = argmax(x);
    assertClose(await m.read(), [7, NaN], EXACT, "max");
    assert.deepEqual([...await i.read()], [100, n - 1]);
    for (const t of [x, m, i]) t.dispose();
  });
});

Deno.test("sum of 1e6 elements is accurate to 1e-6 relative to float64", async () => {
  await assertNoLeak(gpu, async () => {
    const n = 1_000_000;
    const data = uniformData(1234, n, 0, 1);
    let naive = 0; // f32 sequential sum, for the record: it misses the 1e-6 bar
    for (let j = 0; j < n; j++) naive = Math.fround(naive + data[j]);
    const exact = reduceRef("sum", data, [1, n], 1)[0];
    const x = tensor(data);
    const s = sum(x), m = mean(x);
    const got = await s.item(), gotMean = await m.item();
    assert.ok(Math.abs(got - exact) / exact < 1e-6, `sum ${got} vs ${exact}`);
    assert.ok(Math.abs(gotMean - exact / n) / (exact / n) < 1e-6, `mean ${gotMean}`);
    assert.ok(Math.abs(naive - exact) / exact > 1e-6, "the naive f32 sum should be worse");
    for (const t of [x, s, m]) t.dispose();
  });
});

Deno.test("sum compensates: 1e8 plus 1e5 ones loses nothing on both schedules", async () => {
  await assertNoLeak(gpu, async () => {
    for (const n of [SPLIT_ABOVE - 1, 100_000]) { // direct (one pass), then split
      const data = new Float32Array(n + 1).fill(1);
      data[0] = 1e8;
      const x = tensor(data);
      const s = sum(x);
      assert.equal(await s.item(), Math.fround(1e8 + n), `${n + 1} elements`);
      x.dispose();
      s.dispose();
    }
  });
});

Deno.test("sum takes two passes along a long non-last axis", async () => {
  await assertNoLeak(gpu, async () => {
    const shape = [SPLIT_ABOVE + 300, 3];
    const data = uniformData(5, shape[0] * 3, -1, 1);
    const x = tensor(data, shape);
    for (const kind of KINDS) {
      const out = OPS[kind](x, { axis: 0 });
      assertClose(await out.read(), reduceRef(kind, data, shape, 0), tol(kind), kind);
      out.dispose();
    }
    x.dispose();
  });
});

Deno.test("sum carries infinities and NaN through both passes of a long axis", async () => {
  await assertNoLeak(gpu, async () => {
    const n = 2 * SPLIT_ABOVE;
    const data = new Float32Array(4 * n).fill(1);
    data[10] = Infinity; // row 0: +inf in chunk 0 -> +inf
    data[n + 10] = Infinity; // row 1: +inf and -inf in different chunks -> NaN
    data[2 * n - 1] = -Infinity;
    data[3 * n - 1] = NaN; // row 2: NaN -> NaN; row 3 stays finite
    const x = tensor(data, [4, n], { population: true });
    const s = sum(x), m = mean(x);
    assertClose(await s.read(), [Infinity, NaN, NaN, n], EXACT, "sum");
    assertClose(await m.read(), [Infinity, NaN, NaN, 1], EXACT, "mean");
    for (const t of [x, s, m]) t.dispose();
  });
});

Deno.test("sum, mean and max handle empty tensors, infinities and NaN", async () => {
  await assertNoLeak(gpu, async () => {
    const empty = tensor([], [0]);
    const s = sum(empty), m = mean(empty);
    assert.equal(await s.item(), 0);
    assert.ok(Number.isNaN(await m.item()));
    assert.throws(() => max(empty), TypeError);
    const inf = tensor([1, Infinity, 2, NaN, -Infinity, 3, -Infinity, Infinity], [4, 2]);
    const si = sum(inf, { axis: 1 });
    assertClose(await si.read(), [Infinity, NaN, -Infinity, NaN], EXACT);
    const none = tensor([], [0, 4]);
    const rows = sum(none, { axis: 1 });
    assert.deepEqual(rows.shape, [0]);
    for (const t of [empty, s, m, inf, si, none, rows]) t.dispose();
  });
});

Deno.test("reductions reject a bad axis with a RangeError naming it", () => {
  const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  for (const axis of [2, -3, 0.5]) {
    assert.throws(
      () => sum(x, { axis }),
      (e: Error) => e instanceof RangeError && e.message.includes(`received ${axis}`),
    );
  }
  assert.throws(() => argmax(x, { axis: 7 }), RangeError);
  x.dispose();
});
