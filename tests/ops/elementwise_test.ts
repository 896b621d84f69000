import {
  abs,
  add,
  axpy,
  broadcastRow,
  clamp,
  copy,
  copyRows,
  fill,
  mul,
  relu,
  scale,
  sign,
  where,
  zeros,
} from "../../src/ops/elementwise.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import { assert, assertClose, assertNoLeak, gpu, uniformData } from "../_util.ts";

const SIZES = [1, 7, 33 * 17, 1000];
const f = Math.fround;

function cpu1(x: Float32Array, fn: (v: number) => number): Float32Array {
  return x.map((v) => f(fn(v)));
}

for (const n of SIZES) {
  Deno.test(`unary elementwise ops match the CPU on ${n} elements`, async () => {
    await assertNoLeak(gpu, async () => {
      const data = uniformData(n, n, -2, 2);
      const x = tensor(data);
      const cases: [string, ReturnType<typeof relu>, (v: number) => number][] = [
        ["relu", relu(x), (v) => Math.max(v, 0)],
        ["sign", sign(x), (v) => Math.sign(v)],
        ["abs", abs(x), (v) => Math.abs(v)],
        ["scale", scale(x, 0.5, 1), (v) => f(0.5 * v) + 1],
        ["clamp", clamp(x, -0.5, 0.25), (v) => Math.min(Math.max(v, -0.5), 0.25)],
        ["copy", copy(x), (v) => v],
      ];
      for (const [name, out, ref] of cases) {
        assertClose(await out.read(), cpu1(data, ref), { rtol: 1e-6, atol: 0 }, name);
        out.dispose();
      }
      x.dispose();
    });
  });
}

Deno.test("binary ops broadcast a shared operand over population rows", async () => {
  await assertNoLeak(gpu, async () => {
    const P = 3, n = 33;
    const pa = uniformData(1, P * n), sb = uniformData(2, n);
    const a = tensor(pa, [P, n], { population: true });
    const b = tensor(sb, [n]);
    const sum = add(a, b, -2);
    const prod = mul(b, a);
    assert.deepEqual(sum.shape, [P, n]);
    assert.equal(sum.population, true);
    const expSum = new Float32Array(P * n), expProd = new Float32Array(P * n);
    for (let r = 0; r < P; r++) {
      for (let j = 0; j < n; j++) {
        expSum[r * n + j] = f(pa[r * n + j] - f(2 * sb[j]));
        expProd[r * n + j] = f(pa[r * n + j] * sb[j]);
      }
    }
    assertClose(await sum.read(), expSum, { rtol: 1e-6, atol: 1e-7 }, "add");
    assertClose(await prod.read(), expProd, { rtol: 1e-6, atol: 0 }, "mul");
    for (const t of [a, b, sum, prod]) t.dispose();
  });
});

Deno.test("where selects by the sign of the condition", async () => {
  const c = tensor([1, -1, 0, 2]), a = tensor([10, 20, 30, 40]), b = tensor([5, 6, 7, 8]);
  const out = where(c, a, b);
  assert.deepEqual([...await out.read()], [10, 6, 7, 40]);
  for (const t of [c, a, b, out]) t.dispose();
});

Deno.test("axpy and fill work in place on population rows", async () => {
  const y = zeros([2, 5], { population: true });
  fill(y, 1);
  const x = tensor([1, 2, 3, 4, 5]);
  axpy(y, x, 2);
  assert.deepEqual([...await y.read()], [3, 5, 7, 9, 11, 3, 5, 7, 9, 11]);
  axpy(y, x, 1, 0.5);
  assert.deepEqual([...await y.read()], [2.5, 4.5, 6.5, 8.5, 10.5, 2.5, 4.5, 6.5, 8.5, 10.5]);
  y.dispose();
  x.dispose();
});

Deno.test("clamp keeps NaN", async () => {
  const x = tensor([NaN, -3, 3]);
  const out = clamp(x, -1, 1);
  const r = await out.read();
  assert.ok(Number.isNaN(r[0]));
  assert.deepEqual([r[1], r[2]], [-1, 1]);
  x.dispose();
  out.dispose();
});

Deno.test("elementwise ops reject mismatched shapes with a TypeError naming both", () => {
  const a = tensor([1, 2, 3], [3]), b = tensor([1, 2], [2]);
  assert.throws(
    () => add(a, b),
    (e: Error) => e instanceof TypeError && /\[3\].*\[2\]/.test(e.message),
  );
  const p2 = zeros([2, 3], { population: true }), p3 = zeros([3, 3], { population: true });
  assert.throws(() => mul(p2, p3), TypeError);
  assert.throws(() => copy(p2, a), TypeError);
  assert.throws(() => clamp(a, 1, 0), RangeError);
  for (const t of [a, b, p2, p3]) t.dispose();
});

Deno.test("copyRows and broadcastRow copy rows within one strided buffer", async () => {
  const base = tensor(Array.from({ length: 20 }, (_, i) => i));
  const view = Tensor.view(gpu, base.buffer, [4, 3], { population: true, offset: 2, rowStride: 4 });
  copyRows(view, 0, 2, 2); // rows 0,1 -> rows 2,3
  assert.deepEqual([...await view.read()], [2, 3, 4, 6, 7, 8, 2, 3, 4, 6, 7, 8]);
  broadcastRow(view, 1);
  assert.deepEqual([...await view.read()], [6, 7, 8, 6, 7, 8, 6, 7, 8, 6, 7, 8]);
  const all = await base.read();
  assert.deepEqual([all[0], all[1], all[5], all[9], all[17], all[18]], [0, 1, 5, 9, 17, 18]);
  assert.throws(() => copyRows(view, 0, 1, 2), RangeError);
  assert.throws(() => copyRows(view, 3, 0, 2), RangeError);
  assert.throws(() => broadcastRow(view, 4), RangeError);
  base.dispose();
});
