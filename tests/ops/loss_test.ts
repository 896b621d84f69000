import {
  accuracyCount,
  crossEntropy,
  logSoftmax,
  mseLoss,
  type Reduction,
  softmax,
} from "../../src/ops/loss.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import {
  accuracyCountRef,
  crossEntropyRef,
  logSoftmaxRef,
  mseLossRef,
  softmaxRef,
} from "../ref/loss.ts";
import { assert, assertClose, assertNoLeak, gpu, normalData, uniformData } from "../_util.ts";

/** Softmax outputs in [0, 1]. */
const PROB_TOL = { rtol: 1e-5, atol: 1e-6 };
/** Log-probabilities and losses: f32 exp/log and the max shift, against float64. */
const LOG_TOL = { rtol: 1e-5, atol: 1e-5 };
const REDUCTIONS: Reduction[] = ["mean", "sum", "none"];

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

/** `n` integer class labels in [0, classes), as f32. */
function labels(seed: number, n: number, classes: number): Float32Array {
  return uniformData(seed, n, 0, classes).map(Math.floor);
}

const SOFTMAX_SHAPES: number[][] = [[1, 1], [7, 10], [32, 10], [33, 17], [32, 1], [2, 3, 5]];

for (const shape of SOFTMAX_SHAPES) {
  Deno.test(`softmax and logSoftmax match the CPU on ${shape.join("x")}`, async () => {
    await assertNoLeak(gpu, async () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const classes = shape.at(-1)!;
      const data = normalData(n + classes, n).map((v) => 3 * v);
      const x = tensor(data, shape);
      const p = softmax(x), lp = logSoftmax(x);
      assert.deepEqual(p.shape, shape);
      assertClose(await p.read(), softmaxRef(data, classes), PROB_TOL, "softmax");
      assertClose(await lp.read(), logSoftmaxRef(data, classes), LOG_TOL, "logSoftmax");
      for (const t of [x, p, lp]) t.dispose();
    });
  });
}

Deno.test("softmax and logSoftmax read a strided population view of 3 rows", async () => {
  await assertNoLeak(gpu, async () => {
    const [P, B, C] = [3, 32, 10];
    const data = normalData(11, P * B * C);
    const { base, view } = stridedView(data, P, [B, C], 7, B * C + 9);
    const p = softmax(view), lp = logSoftmax(view);
    assert.deepEqual(p.shape, [P, B, C]);
    assert.equal(p.population, true);
    assertClose(await p.read(), softmaxRef(data, C), PROB_TOL, "softmax");
    assertClose(await lp.read(), logSoftmaxRef(data, C), LOG_TOL, "logSoftmax");
    for (const t of [base, p, lp]) t.dispose();
  });
});

Deno.test("softmax does not overflow on logits of magnitude 1e4", async () => {
  await assertNoLeak(gpu, async () => {
    const [B, C] = [32, 10];
    const data = uniformData(12, B * C, -1e4, 1e4);
    data[3] = 1e4; // two close large logits in one vector
    data[4] = 1e4 - 1;
    const x = tensor(data, [B, C]);
    const p = softmax(x), lp = logSoftmax(x);
    const probs = await p.read();
    assert.ok(probs.every(Number.isFinite), "softmax is finite");
    assertClose(probs, softmaxRef(data, C), PROB_TOL, "softmax");
    assertClose(await lp.read(), logSoftmaxRef(data, C), { rtol: 1e-6, atol: 1e-5 }, "log");
    const target = labels(13, B, C);
    const t = tensor(target);
    const ce = crossEntropy(x, t, { reduction: "none" });
    assertClose(
      await ce.read(),
      crossEntropyRef(data, target, { batch: B, classes: C, reduction: "none" }),
      { rtol: 1e-6, atol: 1e-5 },
    );
    for (const u of [x, p, lp, t, ce]) u.dispose();
  });
});

Deno.test("softmax gives NaN for a vector holding NaN and 0 for -Infinity", async () => {
  await assertNoLeak(gpu, async () => {
    const x = tensor([1, NaN, 2, 0, -Infinity, 0], [2, 3]);
    const p = softmax(x), lp = logSoftmax(x);
    assertClose(await p.read(), [NaN, NaN, NaN, 0.5, 0, 0.5], PROB_TOL);
    assertClose(await lp.read(), [NaN, NaN, NaN, -Math.LN2, -Infinity, -Math.LN2], LOG_TOL);
    for (const t of [x, p, lp]) t.dispose();
  });
});

for (const P of [1, 3]) {
  for (const B of [1, 32]) {
    for (const C of [10, 1]) {
      Deno.test(`crossEntropy and accuracyCount match the CPU for P=${P}, B=${B}, C=${C}`, async () => {
        await assertNoLeak(gpu, async () => {
          const logits = normalData(P * 100 + B + C, P * B * C).map((v) => 2 * v);
          const { base, view } = stridedView(logits, P, [B, C], 3, B * C + 5);
          const shared = labels(B + C, B, C), perRow = labels(P + B + C, P * B, C);
          const targets = [
            { t: tensor(shared), targetPop: false },
            { t: tensor(perRow, [P, B], { population: true }), targetPop: true },
          ];
          for (const { t, targetPop } of targets) {
            const ref = { batch: B, classes: C, rows: P, targetPop };
            const target = targetPop ? perRow : shared;
            for (const reduction of REDUCTIONS) {
              const out = crossEntropy(view, t, { reduction });
              assert.deepEqual(out.shape, reduction === "none" ? [P, B] : [P]);
              assert.equal(out.population, true);
              assertClose(
                await out.read(),
                crossEntropyRef(logits, target, { ...ref, reduction }),
                LOG_TOL,
                `${reduction} targetPop=${targetPop}`,
              );
              out.dispose();
            }
            const hits = accuracyCount(view, t);
            assert.deepEqual(hits.shape, [P]);
            assertClose(await hits.read(), accuracyCountRef(logits, target, ref), {
              rtol: 0,
              atol: 0,
            });
            hits.dispose();
            t.dispose();
          }
          base.dispose();
        });
      });
    }
  }
}

Deno.test("crossEntropy on shared logits gives a scalar, or [P] with per-row targets", async () => {
  await assertNoLeak(gpu, async () => {
    const [P, B, C] = [4, 7, 10];
    const logits = normalData(21, B * C);
    const shared = labels(22, B, C), perRow = labels(23, P * B, C);
    const x = tensor(logits, [B, C]);
    const ts = tensor(shared), tp = tensor(perRow, [P, B], { population: true });
    const scalar = crossEntropy(x, ts), rows = crossEntropy(x, tp);
    assert.deepEqual(scalar.shape, []);
    assert.equal(scalar.population, false);
    assert.deepEqual(rows.shape, [P]);
    const refOpts = { batch: B, classes: C, logitsPop: false };
    assertClose(await scalar.read(), crossEntropyRef(logits, shared, refOpts), LOG_TOL);
    assertClose(
      await rows.read(),
      crossEntropyRef(logits, perRow, { ...refOpts, rows: P, targetPop: true }),
      LOG_TOL,
    );
    const hits = accuracyCount(x, ts);
    assert.deepEqual(hits.shape, []);
    assert.equal(await hits.item(), accuracyCountRef(logits, shared, refOpts)[0]);
    for (const t of [x, ts, tp, scalar, rows, hits]) t.dispose();
  });
});

Deno.test("crossEntropy, accuracyCount and mseLoss over P rows in one call equal P one-row calls", async () => {
  await assertNoLeak(gpu, async () => {
    const [P, B, C] = [5, 32, 10];
    const rowStride = B * C + 3;
    const logits = normalData(31, P * B * C);
    const { base, view } = stridedView(logits, P, [B, C], 2, rowStride);
    const target = tensor(labels(32, B, C));
    const mseTarget = tensor(normalData(33, B * C), [B, C]);
    const ce = crossEntropy(view, target), hits = accuracyCount(view, target);
    const mse = mseLoss(view, mseTarget);
    const [ceAll, hitsAll, mseAll] = [await ce.read(), await hits.read(), await mse.read()];
    for (let r = 0; r < P; r++) {
      const row = Tensor.view(gpu, base.buffer, [B, C], { offset: 2 + r * rowStride });
      const one = [crossEntropy(row, target), accuracyCount(row, target), mseLoss(row, mseTarget)];
      assert.equal(await one[0].item(), ceAll[r], `crossEntropy row ${r}`);
      assert.equal(await one[1].item(), hitsAll[r], `accuracyCount row ${r}`);
      assert.equal(await one[2].item(), mseAll[r], `mseLoss row ${r}`);
      for (const t of [row, ...one]) t.dispose();
    }
    for (const t of [base, target, mseTarget, ce, hits, mse]) t.dispose();
  });
});

Deno.test("crossEntropy mean keeps loss differences of 1e-5 perturbations accurate", async () => {
  await assertNoLeak(gpu, async () => {
    // Row r = base logits + 1e-5 * r * noise: the loss differences between rows are ~1e-6,
    // a few ulps of the loss itself, so summation noise would swamp them.
    const [P, B, C] = [4, 256, 10];
    const baseLogits = normalData(41, B * C), noise = normalData(42, B * C);
    const logits = new Float32Array(P * B * C);
    for (let r = 0; r < P; r++) {
      for (let j = 0; j < B * C; j++) logits[r * B * C + j] = baseLogits[j] + 1e-5 * r * noise[j];
    }
    const target = labels(43, B, C);
    const x = tensor(logits, [P, B, C], { population: true }), t = tensor(target);
    const loss = crossEntropy(x, t);
    const got = await loss.read();
    const ref = crossEntropyRef(logits, target, { batch: B, classes: C, rows: P });
    for (let r = 1; r < P; r++) {
      const err = Math.abs((got[r] - got[0]) - (ref[r] - ref[0]));
      assert.ok(err < 3e-7, `row ${r}: difference off by ${err}`);
    }
    for (const u of [x, t, loss]) u.dispose();
  });
});

Deno.test("crossEntropy gives NaN for bad targets without touching other rows", async () => {
  await assertNoLeak(gpu, async () => {
    const [P, B, C] = [4, 3, 5];
    const logits = normalData(51, P * B * C);
    // row 0 fine; row 1: index C; row 2: 1.5; row 3: -1 and NaN
    const target = [0, 4, 2, 1, 5, 2, 1, 1.5, 0, -1, 3, NaN];
    const x = tensor(logits, [P, B, C], { population: true });
    const t = tensor(target, [P, B], { population: true });
    const mean = crossEntropy(x, t), each = crossEntropy(x, t, { reduction: "none" });
    const hits = accuracyCount(x, t);
    const ref = { batch: B, classes: C, rows: P, targetPop: true };
    const m = await mean.read();
    assert.ok(Number.isFinite(m[0]));
    assert.ok([m[1], m[2], m[3]].every(Number.isNaN), `row means ${m}`);
    assertClose(m, crossEntropyRef(logits, target, ref), LOG_TOL, "mean");
    const e = await each.read();
    assert.deepEqual(
      [...e].map(Number.isNaN),
      target.map((v) => !Number.isInteger(v) || v < 0 || v >= C),
    );
    assertClose(e, crossEntropyRef(logits, target, { ...ref, reduction: "none" }), LOG_TOL);
    assertClose(await hits.read(), accuracyCountRef(logits, target, ref), { rtol: 0, atol: 0 });
    for (const u of [x, t, mean, each, hits]) u.dispose();
  });
});

Deno.test("accuracyCount takes the first of tied maxima and NaN as the maximum", async () => {
  await assertNoLeak(gpu, async () => {
    const x = tensor([3, 3, 1, 0, 2, 2, NaN, 5, 1, 1, 1, 1], [4, 3]);
    const hit = tensor([0, 1, 0, 0]); // ties -> 0 (hit), ties -> 1 (hit), NaN at 0 (hit)
    const miss = tensor([1, 2, 1, 2]);
    const a = accuracyCount(x, hit), b = accuracyCount(x, miss);
    assert.equal(await a.item(), 4);
    assert.equal(await b.item(), 0);
    for (const t of [x, hit, miss, a, b]) t.dispose();
  });
});

for (const P of [1, 3]) {
  Deno.test(`mseLoss matches the CPU for ${P} rows with shared and per-row targets`, async () => {
    await assertNoLeak(gpu, async () => {
      const rowShape = [33, 17];
      const numel = 33 * 17;
      const pred = normalData(60 + P, P * numel);
      const { base, view } = stridedView(pred, P, rowShape, 1, numel + 2);
      const shared = normalData(61, numel), perRow = normalData(62, P * numel);
      const targets = [
        { t: tensor(shared, rowShape), targetPop: false, data: shared },
        {
          t: tensor(perRow, [P, ...rowShape], { population: true }),
          targetPop: true,
          data: perRow,
        },
      ];
      for (const { t, targetPop, data } of targets) {
        for (const reduction of REDUCTIONS) {
          const out = mseLoss(view, t, { reduction });
          assert.deepEqual(out.shape, reduction === "none" ? [P, ...rowShape] : [P]);
          const expected = mseLossRef(pred, data, { numel, rows: P, targetPop, reduction });
          assertClose(await out.read(), expected, { rtol: 1e-5, atol: 1e-6 }, reduction);
          out.dispose();
        }
        t.dispose();
      }
      base.dispose();
    });
  });
}

Deno.test("mseLoss of shared tensors is a scalar", async () => {
  await assertNoLeak(gpu, async () => {
    const a = tensor([1, 2, 3, 4], [2, 2]), b = tensor([0, 0, 0, 1], [2, 2]);
    const m = mseLoss(a, b), s = mseLoss(a, b, { reduction: "sum" });
    assert.deepEqual(m.shape, []);
    assert.equal(await m.item(), 23 / 4);
    assert.equal(await s.item(), 23);
    for (const t of [a, b, m, s]) t.dispose();
  });
});

Deno.test("mseLoss and crossEntropy give IEEE results for infinite terms", async () => {
  await assertNoLeak(gpu, async () => {
    const pred = tensor([Infinity, 0, Infinity, 1, NaN, 0], [3, 2], { population: true });
    const target = tensor([0, 0, Infinity, 0, 0, 0], [3, 2], { population: true });
    const m = mseLoss(pred, target), each = mseLoss(pred, target, { reduction: "none" });
    assertClose(await m.read(), [Infinity, NaN, NaN], { rtol: 0, atol: 0 }, "mean");
    assertClose(await each.read(), [Infinity, 0, NaN, 1, NaN, 0], { rtol: 0, atol: 0 }, "none");
    const logits = tensor([0, -Infinity, 0, 0], [2, 2]);
    const labels01 = tensor([1, 0]);
    const ce = crossEntropy(logits, labels01, { reduction: "sum" });
    assert.equal(await ce.item(), Infinity);
    for (const t of [pred, target, m, each, logits, labels01, ce]) t.dispose();
  });
});

Deno.test("loss ops reject bad shapes with a TypeError and bad reductions with a RangeError", () => {
  const x = tensor(new Float32Array(2 * 3 * 4), [2, 3, 4], { population: true });
  const flat = tensor([1, 2, 3]);
  const t3 = tensor([0, 1, 2]), t4 = tensor([0, 1, 2, 3]);
  const t3p = tensor(new Float32Array(9), [3, 3], { population: true });
  const rank = (e: Error) => e instanceof TypeError && e.message.includes("[3]");
  assert.throws(() => crossEntropy(flat, t3), rank);
  assert.throws(
    () => crossEntropy(x, t4),
    (e: Error) => e instanceof TypeError && /\[4\].*\[2, 3, 4\]/.test(e.message),
  );
  assert.throws(() => crossEntropy(x, t3p), TypeError); // 2 vs 3 population rows
  assert.throws(() => accuracyCount(x, t4), TypeError);
  assert.throws(
    () => crossEntropy(x, t3, { reduction: "avg" as Reduction }),
    (e: Error) => e instanceof RangeError && e.message.includes('"avg"'),
  );
  assert.throws(() => mseLoss(x, t4), TypeError);
  assert.throws(() => mseLoss(flat, t3, { reduction: "max" as Reduction }), RangeError);
  const p1 = tensor([1, 2], [2], { population: true });
  assert.throws(() => softmax(p1), TypeError);
  for (const t of [x, flat, t3, t4, t3p, p1]) t.dispose();
});
