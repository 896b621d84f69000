import { FlatParameters, Parameter } from "../../src/params/flat.ts";
import { Module } from "../../src/nn/module.ts";
import { mul } from "../../src/ops/elementwise.ts";
import { type Tensor, tensor } from "../../src/tensor.ts";
import { assert, assertNoLeak, gpu } from "../_util.ts";

/** y = x ⊙ w: the smallest module with a parameter. */
class Gain extends Module {
  readonly w: Parameter;
  constructor(values: number[]) {
    super();
    this.w = new Parameter(values);
  }
  forward(x: Tensor): Tensor {
    return mul(x, this.w.view());
  }
}

class Pair extends Module {
  readonly first: Gain;
  readonly second: Gain;
  readonly own: Parameter;
  constructor() {
    super();
    this.own = new Parameter([9], [1, 1]);
    this.first = new Gain([1, 2, 3]);
    this.second = new Gain([4, 5, 6, 7, 8]);
  }
  forward(x: Tensor): Tensor {
    return x;
  }
}

Deno.test("Module names parameters like torch: own first, then children in order", () => {
  const m = new Pair();
  assert.deepEqual(m.namedParameters().map(([n]) => n), ["own", "first.w", "second.w"]);
  assert.equal(m.numParameters(), 9);
});

Deno.test("FlatParameters packs parameters vec4-aligned in rows of 64-element multiples", async () => {
  const m = new Pair();
  const flat = m.flat;
  try {
    assert.equal(flat.size, 9);
    assert.equal(flat.stride % 64, 0);
    assert.deepEqual(flat.params.map((p) => p.offset), [0, 4, 8]);
    assert.deepEqual([...await flat.readRow(0)], [9, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual([...await m.second.w.read()], [4, 5, 6, 7, 8]);
  } finally {
    flat.dispose();
  }
});

Deno.test("rows can be added, copied, broadcast, loaded and read back", async () => {
  const m = new Gain([1, 2, 3]);
  const flat = m.flat;
  try {
    flat.setRows(3);
    assert.equal(flat.rows, 3);
    assert.deepEqual([...await flat.readRow(2)], [1, 2, 3]); // new rows copy row 0
    flat.loadRow(1, [7, 8, 9]);
    flat.copyRow(1, 2);
    assert.deepEqual([...await flat.readRow(2)], [7, 8, 9]);
    assert.deepEqual([...await flat.readRow(0)], [1, 2, 3]);
    flat.broadcastRow(1);
    assert.deepEqual([...await flat.readRow(0)], [7, 8, 9]);
    m.w.load([-1, -2, -3], 2);
    assert.deepEqual([...await m.w.read(2)], [-1, -2, -3]);
    flat.setRows(2); // shrinking keeps the first rows
    assert.deepEqual([...await flat.readRow(1)], [7, 8, 9]);
  } finally {
    flat.dispose();
  }
});

Deno.test("the active rows decide the population axis of a forward pass", async () => {
  const m = new Gain([1, 2, 3]);
  const flat = m.flat;
  const x = tensor([1, 1, 1]);
  try {
    flat.setRows(4);
    flat.loadRow(1, [10, 20, 30]);
    flat.loadRow(2, [100, 200, 300]);
    const one = m.forward(x);
    assert.deepEqual(one.shape, [3]);
    flat.setActive(2, 1);
    const two = m.forward(x);
    assert.deepEqual(two.shape, [2, 3]);
    assert.ok(two.population);
    assert.deepEqual([...await two.read()], [10, 20, 30, 100, 200, 300]);
    one.dispose();
    two.dispose();
  } finally {
    x.dispose();
    flat.dispose();
  }
});

Deno.test("flattening a parent after a child moves the values and frees the child's buffer", async () => {
  await assertNoLeak(gpu, async () => {
    const m = new Pair();
    m.first.parameters(); // the child gets its own buffer first
    m.first.w.load([5, 5, 5]);
    const childFlat = m.first.flat;
    const flat = m.flat;
    assert.notEqual(flat, childFlat);
    assert.equal(m.first.w.flat, flat);
    assert.deepEqual([...await flat.readRow(0)], [9, 5, 5, 5, 4, 5, 6, 7, 8]);
    flat.dispose();
  });
});

Deno.test("a parameter shared by two modules is stored once", () => {
  const shared = new Parameter([1, 2]);
  const a = new Gain([0]);
  const b = new Gain([0]);
  (a as unknown as { w: Parameter }).w = shared;
  (b as unknown as { w: Parameter }).w = shared;
  const both = new (class extends Module {
    a = a;
    b = b;
    forward(x: Tensor) {
      return x;
    }
  })();
  assert.equal(both.namedParameters().length, 1);
  const flat = new FlatParameters([shared, shared]);
  assert.equal(flat.size, 2);
  flat.dispose();
});

Deno.test("stateDict and loadStateDict round-trip by name and reject bad input", async () => {
  const m = new Pair();
  const state = await m.stateDict();
  assert.deepEqual(Object.keys(state), ["own", "first.w", "second.w"]);
  state["first.w"] = new Float32Array([-1, -2, -3]);
  m.loadStateDict(state);
  assert.deepEqual([...await m.first.w.read()], [-1, -2, -3]);
  assert.throws(() => m.loadStateDict({ ...state, extra: [1] }), /unexpected parameter "extra"/);
  const { own: _, ...missing } = state;
  assert.throws(() => m.loadStateDict(missing), /missing parameter "own"/);
  assert.throws(() => m.loadStateDict({ ...state, own: [1, 2] }), TypeError);
  m.flat.dispose();
});

Deno.test("FlatParameters rejects bad rows, windows and lengths", async () => {
  const m = new Gain([1, 2, 3]);
  const flat = m.flat;
  try {
    assert.throws(() => flat.setRows(0), RangeError);
    await assert.rejects(flat.readRow(1), RangeError);
    assert.throws(() => flat.setActive(2), RangeError);
    assert.throws(() => flat.loadRow(0, [1, 2]), TypeError);
    flat.setRows(3);
    assert.throws(() => flat.copyRow(0, 1, 2), RangeError); // overlapping ranges
    assert.throws(() => new Parameter([1, 2, 3], [2, 2]), TypeError);
  } finally {
    flat.dispose();
  }
});

Deno.test("a parameter not yet on the GPU explains how to get it there", () => {
  const p = new Parameter([1]);
  assert.throws(() => p.view(), /model\.parameters\(\)/);
});
