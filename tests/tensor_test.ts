import { scale } from "../src/ops/elementwise.ts";
import { Tensor, tensor, tidy } from "../src/tensor.ts";
import { assert, assertNoLeak, gpu } from "./_util.ts";

Deno.test("tensor uploads data that read() returns unchanged", async () => {
  const data = [1.5, -2, 3.25, 0, 1e-30, -1e30];
  const t = tensor(data, [2, 3]);
  assert.deepEqual(t.shape, [2, 3]);
  assert.equal(t.numel, 6);
  assert.deepEqual([...await t.read()], data.map(Math.fround));
  t.dispose();
});

Deno.test("tensor rejects data that does not fill the shape and invalid sizes", () => {
  assert.throws(() => tensor([1, 2, 3], [2, 2]), TypeError);
  assert.throws(() => tensor([], [-1]), RangeError);
  assert.throws(() => Tensor.empty([1.5]), RangeError);
  assert.throws(() => tensor([], [], { population: true }), TypeError);
});

Deno.test("reading or using a disposed tensor throws", async () => {
  const t = tensor([1, 2]);
  t.dispose();
  t.dispose(); // idempotent
  assert.ok(t.isDisposed);
  await assert.rejects(t.read(), /disposed/);
  assert.throws(() => scale(t, 2), /disposed/);
});

Deno.test("item() returns the value of a one-element tensor and rejects larger ones", async () => {
  const s = tensor([4.5], []);
  assert.equal(await s.item(), 4.5);
  const v = tensor([1, 2]);
  await assert.rejects(v.item(), TypeError);
  s.dispose();
  v.dispose();
});

Deno.test("reshape shares storage and keeps it alive until every view is disposed", async () => {
  await assertNoLeak(gpu, async () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const r = t.reshape([3, 2]);
    t.dispose();
    assert.deepEqual([...await r.read()], [1, 2, 3, 4, 5, 6]);
    assert.throws(() => r.reshape([4]), TypeError);
    r.dispose();
  });
});

Deno.test("a strided population view reads its rows packed", async () => {
  const base = tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const view = Tensor.view(gpu, base.buffer, [3, 2], { population: true, offset: 1, rowStride: 3 });
  assert.equal(view.isContiguous, false);
  assert.equal(view.rows, 3);
  assert.deepEqual([...view.rowShape], [2]);
  assert.deepEqual([...await view.read()], [1, 2, 4, 5, 7, 8]);
  view.dispose(); // a view never frees the buffer it does not own
  assert.deepEqual([...await base.read()].slice(0, 2), [0, 1]);
  base.dispose();
});

Deno.test("tidy disposes intermediates and keeps returned and kept tensors", async () => {
  await assertNoLeak(gpu, async () => {
    const x = tensor([1, 2, 3]);
    let inner: Tensor | undefined;
    let kept: Tensor | undefined;
    const { out } = tidy(() => {
      inner = scale(x, 2);
      kept = scale(x, 3).keep();
      return { out: scale(inner, 2) };
    });
    assert.ok(inner!.isDisposed);
    assert.ok(!kept!.isDisposed && !out.isDisposed && !x.isDisposed);
    assert.deepEqual([...await out.read()], [4, 8, 12]);
    for (const t of [x, kept!, out]) t.dispose();
  });
});

Deno.test("nested tidy scopes hand returned tensors to the outer scope", () => {
  let middle: Tensor | undefined;
  const x = tensor([1]);
  tidy(() => {
    middle = tidy(() => scale(x, 2));
    assert.ok(!middle.isDisposed);
    return undefined;
  });
  assert.ok(middle!.isDisposed);
  x.dispose();
});

Deno.test("tidy disposes on error and rejects async functions", async () => {
  await assertNoLeak(gpu, () => {
    assert.throws(() =>
      tidy(() => {
        Tensor.empty([10]);
        throw new Error("boom");
      }), /boom/);
    assert.throws(() => tidy(() => Promise.resolve(Tensor.empty([3]))), TypeError);
  });
});

Deno.test("a tensor collected without dispose() returns its buffer to the pool", async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return; // needs --v8-flags=--expose-gc; covered in CI by the task flags
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await settle(); // tensors dropped by earlier tests go first
  const before = gpu.stats.bytesInUse;
  (() => {
    Tensor.empty([1000]);
  })();
  assert.equal(gpu.stats.bytesInUse, before + 4000);
  for (let i = 0; i < 10 && gpu.stats.bytesInUse !== before; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(gpu.stats.bytesInUse, before);
});
