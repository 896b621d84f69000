// The backward kernels against the plain TypeScript references of tests/ref/backward.ts, with
// a population of rows (weights as a strided view of a [P, stride] buffer, as the model's
// parameters are) and a shared input batch.

import {
  avgPool2dGrad,
  conv2dGradInput,
  conv2dGradWeight,
  crossEntropyGrad,
  linearGradInput,
  linearGradWeight,
  maxPool2dGrad,
  mseGrad,
  reluGrad,
  softmaxGrad,
} from "../../src/ops/backward.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import {
  avgPool2dGradRef,
  conv2dGradInputRef,
  conv2dGradWeightRef,
  type ConvGeometry,
  crossEntropyGradRef,
  linearGradInputRef,
  linearGradWeightRef,
  maxPool2dGradRef,
  mseGradRef,
  outSide,
  reluGradRef,
  softmaxGradRef,
} from "../ref/backward.ts";
import { assert, assertClose, assertNoLeak, gpu, uniformData } from "../_util.ts";

const P = 2;
const TOL = { rtol: 1e-5, atol: 1e-5 };

/** `P` rows of `shape` in a buffer with `stride` elements per row (a population view). */
function strided(rows: Float32Array[], shape: number[], stride: number): Tensor {
  const all = new Float32Array(rows.length * stride);
  rows.forEach((r, i) => all.set(r, i * stride + 3));
  const owner = tensor(all, [all.length]);
  const view = Tensor.view(gpu, owner.buffer, [rows.length, ...shape], {
    population: true,
    offset: 3,
    rowStride: stride,
  });
  owner.keep();
  cleanup.push(owner);
  return view;
}

const cleanup: Tensor[] = [];
function disposeAll(...ts: Tensor[]) {
  for (const t of [...ts, ...cleanup.splice(0)]) t.dispose();
}

/** Reads a result and disposes it. */
async function readFree(t: Tensor): Promise<Float32Array> {
  const values = await t.read();
  t.dispose();
  return values;
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const rowsOf = (seed: number, n: number) =>
  Array.from({ length: P }, (_, r) => uniformData(seed + r, n, -1, 1));

/** A zeroed gradient buffer of `P` rows of `stride` elements. */
function gradBuffer(stride: number): Tensor {
  return tensor(new Float32Array(P * stride), [P * stride]);
}

async function gradRows(buffer: Tensor, stride: number, at: number, n: number) {
  const all = await buffer.read();
  return Array.from({ length: P }, (_, r) => all.slice(r * stride + at, r * stride + at + n));
}

Deno.test("linear gradients match the reference for every row", async () => {
  await assertNoLeak(gpu, async () => {
    const [batch, inF, outF, stride] = [5, 7, 3, 40];
    const ws = rowsOf(1, outF * inF);
    const w = strided(ws, [outF, inF], stride);
    const x = tensor(uniformData(9, batch * inF), [batch, inF]);
    const dys = rowsOf(20, batch * outF);
    const dy = tensor(new Float32Array([...dys[0], ...dys[1]]), [P, batch, outF], {
      population: true,
    });
    const dx = linearGradInput(dy, w);
    assert.deepEqual(dx.shape, [P, batch, inF]);
    const dxAll = await dx.read();
    const g = gradBuffer(stride);
    linearGradWeight(dy, x, { buffer: g.buffer, offset: 2, biasOffset: 30, rowStride: stride });
    const dws = await gradRows(g, stride, 2, outF * inF);
    const dbs = await gradRows(g, stride, 30, outF);
    const xs = await x.read();
    for (let r = 0; r < P; r++) {
      const n = batch * inF;
      assertClose(
        dxAll.slice(r * n, (r + 1) * n),
        linearGradInputRef(dys[r], ws[r], batch, inF, outF),
        TOL,
        `dx ${r}`,
      );
      const ref = linearGradWeightRef(dys[r], xs, batch, inF, outF);
      assertClose(dws[r], ref.dw, TOL, `dW ${r}`);
      assertClose(dbs[r], ref.db, TOL, `db ${r}`);
    }
    disposeAll(dx, g, x, dy, w);
  });
});

// Each path: 25×25 planes (patches × matmul), 8×8 with padding (as forward convolutions),
// strides 2 and 3 (patches × matmul; direct input-gradient kernel), and with a binding limit
// too small for the patch matrix (the direct filter-gradient kernel).
const CONVS: (ConvGeometry & { bindingLimit?: number })[] = [
  { batch: 2, cin: 1, h: 28, w: 28, cout: 4, k: 4, stride: 1, pad: 0 },
  { batch: 2, cin: 3, h: 8, w: 8, cout: 4, k: 3, stride: 1, pad: 1 },
  { batch: 2, cin: 3, h: 9, w: 8, cout: 2, k: 3, stride: 2, pad: 1, bindingLimit: 4096 },
  { batch: 2, cin: 3, h: 9, w: 8, cout: 2, k: 3, stride: 2, pad: 1 },
  { batch: 1, cin: 2, h: 5, w: 5, cout: 3, k: 2, stride: 3, pad: 1 },
];

for (const g of CONVS) {
  const name = `k${g.k} stride ${g.stride} pad ${g.pad}${g.bindingLimit ? ", direct kernel" : ""}`;
  Deno.test(`conv2d gradients match the reference (${name})`, async () => {
    const limit = gpu.maxBindingSize;
    if (g.bindingLimit !== undefined) gpu.maxBindingSize = g.bindingLimit;
    await assertNoLeak(gpu, async () => {
      const ho = outSide(g.h, g.k, g.stride, g.pad), wo = outSide(g.w, g.k, g.stride, g.pad);
      const wShape = [g.cout, g.cin, g.k, g.k];
      const stride = numel(wShape) + g.cout + 8;
      const ws = rowsOf(3, numel(wShape));
      const w = strided(ws, wShape, stride);
      const xs = rowsOf(5, g.batch * g.cin * g.h * g.w);
      const x = tensor(new Float32Array([...xs[0], ...xs[1]]), [P, g.batch, g.cin, g.h, g.w], {
        population: true,
      });
      const dys = rowsOf(7, g.batch * g.cout * ho * wo);
      const dy = tensor(new Float32Array([...dys[0], ...dys[1]]), [P, g.batch, g.cout, ho, wo], {
        population: true,
      });
      const geometry = { stride: g.stride, padding: g.pad };
      const dx = conv2dGradInput(dy, w, [g.batch, g.cin, g.h, g.w], geometry);
      const dxAll = await dx.read();
      const gb = gradBuffer(stride);
      const biasAt = numel(wShape) + 4;
      conv2dGradWeight(dy, x, wShape, geometry, {
        buffer: gb.buffer,
        offset: 0,
        biasOffset: biasAt,
        rowStride: stride,
      });
      const dws = await gradRows(gb, stride, 0, numel(wShape));
      const dbs = await gradRows(gb, stride, biasAt, g.cout);
      const n = xs[0].length;
      for (let r = 0; r < P; r++) {
        assertClose(
          dxAll.slice(r * n, (r + 1) * n),
          conv2dGradInputRef(dys[r], ws[r], g),
          TOL,
          `dx ${r}`,
        );
        const ref = conv2dGradWeightRef(dys[r], xs[r], g);
        assertClose(dws[r], ref.dw, { rtol: 1e-4, atol: 1e-4 }, `dW ${r}`);
        assertClose(dbs[r], ref.db, { rtol: 1e-4, atol: 1e-4 }, `db ${r}`);
      }
      disposeAll(dx, gb, x, dy, w);
    }).finally(() => gpu.maxBindingSize = limit);
  });
}

const POOLS = [
  { planes: 6, h: 25, w: 25, k: 2, stride: 2, pad: 0 },
  { planes: 3, h: 7, w: 9, k: 3, stride: 1, pad: 1 },
  { planes: 2, h: 9, w: 8, k: 3, stride: 2, pad: 1 },
];

for (const g of POOLS) {
  Deno.test(`pooling gradients match the reference (k${g.k} stride ${g.stride} pad ${g.pad})`, async () => {
    await assertNoLeak(gpu, async () => {
      const ho = outSide(g.h, g.k, g.stride, g.pad), wo = outSide(g.w, g.k, g.stride, g.pad);
      // Ties and a NaN: torch's argmax is the first maximum, and a NaN wins.
      const xData = uniformData(11, g.planes * g.h * g.w, -2, 2).map((v) => Math.round(v * 4) / 4);
      xData[5] = NaN;
      const x = tensor(xData, [1, g.planes, g.h, g.w]);
      const dys = rowsOf(13, g.planes * ho * wo);
      const dy = tensor(new Float32Array([...dys[0], ...dys[1]]), [P, 1, g.planes, ho, wo], {
        population: true,
      });
      const geometry = { kernelSize: g.k, stride: g.stride, padding: g.pad };
      const max = await readFree(maxPool2dGrad(dy, x, geometry));
      const avg = await readFree(avgPool2dGrad(dy, x.rowShape, geometry));
      const n = xData.length;
      for (let r = 0; r < P; r++) {
        assertClose(
          max.slice(r * n, (r + 1) * n),
          maxPool2dGradRef(dys[r], xData, g),
          TOL,
          `max ${r}`,
        );
        assertClose(avg.slice(r * n, (r + 1) * n), avgPool2dGradRef(dys[r], g), TOL, `avg ${r}`);
      }
      disposeAll(x, dy);
    });
  });
}

Deno.test("relu, softmax, cross-entropy and mse gradients match the reference", async () => {
  await assertNoLeak(gpu, async () => {
    const [batch, classes] = [4, 5];
    const n = batch * classes;
    const dyData = uniformData(1, P * n);
    const yData = uniformData(2, P * n);
    const dy = tensor(dyData, [P, batch, classes], { population: true });
    const y = tensor(yData, [P, batch, classes], { population: true });
    assertClose(await readFree(reluGrad(dy, y)), reluGradRef(dyData, yData), TOL, "relu");
    const probs = new Float32Array(P * n);
    for (let s = 0; s < P * batch; s++) {
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(yData[s * classes + c]);
      for (let c = 0; c < classes; c++) {
        probs[s * classes + c] = Math.exp(yData[s * classes + c]) / sum;
      }
    }
    const p = tensor(probs, [P, batch, classes], { population: true });
    assertClose(
      await readFree(softmaxGrad(dy, p)),
      softmaxGradRef(dyData, probs, classes),
      TOL,
      "softmax",
    );
    const labels = [0, 4, 2, 2];
    const t = tensor(labels, [batch]);
    for (const [reduction, scale] of [["mean", 1 / batch], ["sum", 1], ["none", 1]] as const) {
      const got = await readFree(crossEntropyGrad(y, t, reduction));
      for (let r = 0; r < P; r++) {
        const ref = crossEntropyGradRef(yData.slice(r * n, (r + 1) * n), labels, classes, scale);
        assertClose(got.slice(r * n, (r + 1) * n), ref, TOL, `crossEntropy ${reduction} ${r}`);
      }
      const mse = await readFree(mseGrad(y, dy, reduction));
      assertClose(
        mse,
        mseGradRef(yData, dyData, reduction === "mean" ? 1 / n : 1),
        TOL,
        `mse ${reduction}`,
      );
    }
    const bad = tensor([0, 7, 2, 1.5], [batch]);
    const nanRows = await readFree(crossEntropyGrad(y, bad, "mean"));
    assert.ok(
      nanRows.slice(classes, 2 * classes).every(Number.isNaN),
      "a class outside [0, C) gives NaN",
    );
    assert.ok(
      nanRows.slice(3 * classes, 4 * classes).every(Number.isNaN),
      "a fractional class gives NaN",
    );
    assert.ok(nanRows.slice(0, classes).every(Number.isFinite));
    disposeAll(dy, y, p, t, bad);
  });
});

Deno.test("backward ops name mismatched shapes", () => {
  const dy = tensor(new Float32Array(6), [2, 3]);
  const w = tensor(new Float32Array(8), [4, 2]);
  assert.throws(() => linearGradInput(dy, w), /expected dy rows of shape \[2, 4\]/);
  const y = tensor(new Float32Array(4), [4]);
  assert.throws(() => reluGrad(dy, y), /reluGrad: expected y rows/);
  for (const t of [dy, w, y]) t.dispose();
});
