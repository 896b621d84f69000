// The CPU twin of the GPU generator (src/rng.ts): Philox known answers, the 64-bit multiply,
// the element mapping, and the sequential Generator. No GPU needed.

import assert from "node:assert/strict";
import {
  Generator,
  mulhi32,
  philox,
  randomBitsAt,
  randomNormalAt,
  randomRademacherAt,
  randomUniformAt,
  toUniform,
  toUniformOpen,
} from "../src/rng.ts";

const hex = (w: Uint32Array) => [...w].map((v) => v.toString(16).padStart(8, "0"));

Deno.test("philox matches the Random123 Philox4x32-10 known-answer vectors", () => {
  // kat_vectors: philox4x32 10 <ctr0..3> <key0 key1> <out0..3>
  assert.deepEqual(hex(philox(0, 0, 0, 0, 0, 0)), ["6627e8d5", "e169c58d", "bc57ac4c", "9b00dbd8"]);
  const m = 0xffffffff;
  assert.deepEqual(hex(philox(m, m, m, m, m, m)), ["408f276d", "41c83b0e", "a20bc7c6", "6d5451fd"]);
  assert.deepEqual(
    hex(philox(0xa4093822, 0x299f31d0, 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344)),
    ["d16cfe09", "94fdcceb", "5001e420", "24126ea1"],
  );
});

Deno.test("mulhi32 equals the high word of the BigInt product", () => {
  const g = new Generator(1234);
  const pairs: [number, number][] = [
    [0, 0],
    [0xffffffff, 0xffffffff],
    [0xffffffff, 1],
    [0x10000, 0x10000],
    [0xd2511f53, 0xffffffff],
    [0xcd9e8d57, 0x80000000],
  ];
  for (let i = 0; i < 10_000; i++) pairs.push([g.nextU32(), g.nextU32()]);
  for (const [a, b] of pairs) {
    const want = Number((BigInt(a) * BigInt(b)) >> 32n);
    assert.equal(mulhi32(a, b), want, `mulhi32(${a}, ${b})`);
  }
});

Deno.test("randomBitsAt maps element j to lane j & 3 of counter (j >> 2, row, counter, 0)", () => {
  const c = { seed: 11, stream: 22, counter: 33, row: 44 };
  for (const j of [0, 1, 2, 3, 4, 7, 1001, 2 ** 31 + 5]) {
    assert.equal(randomBitsAt(c, j), philox(11, 22, Math.floor(j / 4), 44, 33, 0)[j & 3]);
  }
  assert.equal(randomUniformAt(c, 5), toUniform(randomBitsAt(c, 5)));
  assert.equal(randomRademacherAt(c, 5), randomBitsAt(c, 5) >= 2 ** 31 ? 1 : -1);
});

Deno.test("toUniform and toUniformOpen cover [0, 1) and (0, 1] with 24 bits", () => {
  assert.equal(toUniform(0), 0);
  assert.equal(toUniform(0xffffffff), 1 - 2 ** -24);
  assert.equal(toUniformOpen(0), 2 ** -24);
  assert.equal(toUniformOpen(0xffffffff), 1);
  assert.equal(toUniform(0xff), 0); // the low 8 bits are dropped
});

Deno.test("randomNormalAt is Box–Muller on the lane pair of its block", () => {
  const c = { seed: 5, stream: 0, counter: 1, row: 2 };
  for (const base of [0, 2, 4, 98]) {
    const w = philox(5, 0, base >> 2, 2, 1, 0);
    const pair = base & 2;
    const r2 = -2 * Math.log(toUniformOpen(w[pair]));
    const angle = 2 * Math.PI * toUniform(w[pair + 1]);
    const even = randomNormalAt(c, base), odd = randomNormalAt(c, base + 1);
    assert.equal(even, Math.fround(Math.sqrt(r2) * Math.cos(angle)));
    assert.equal(odd, Math.fround(Math.sqrt(r2) * Math.sin(angle)));
    assert.ok(Math.abs(even * even + odd * odd - r2) < 1e-5 * (1 + r2));
  }
});

Deno.test("Generator is deterministic per seed and stream", () => {
  const draw = (seed: number, stream = 0) => {
    const g = new Generator(seed, stream);
    return [g.nextU32(), g.nextU32(), g.uniform(), g.normal(), g.normal(), g.int(1000)];
  };
  assert.deepEqual(draw(42), draw(42));
  assert.deepEqual(draw(42, 3), draw(42, 3));
  assert.notDeepEqual(draw(42), draw(43));
  assert.notDeepEqual(draw(42), draw(42, 1));
  // nextU32 walks the Philox blocks of counter (i, 0, 0, 0) lane by lane
  const g = new Generator(7, 8);
  const words = Array.from({ length: 8 }, () => g.nextU32());
  assert.deepEqual(words, [...philox(7, 8, 0, 0, 0, 0), ...philox(7, 8, 1, 0, 0, 0)]);
});

Deno.test("Generator.uniform, uniformIn and int stay in range with the right mean", () => {
  const g = new Generator(99);
  const n = 100_000;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const u = g.uniform();
    assert.ok(u >= 0 && u < 1, `uniform ${u}`);
    sum += u;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 5 * Math.sqrt(1 / 12 / n), `mean ${sum / n}`);
  for (let i = 0; i < 1000; i++) {
    const v = g.uniformIn(-3, 2);
    assert.ok(v >= -3 && v < 2);
    const k = g.int(7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
  }
  const us = g.uniforms(1000, 5, 6);
  assert.ok(us instanceof Float32Array && us.every((v) => v >= 5 && v <= 6));
});

Deno.test("Generator.normal has mean 0 and variance 1", () => {
  const g = new Generator(2024, 1);
  const n = 200_000;
  let s1 = 0, s2 = 0;
  for (let i = 0; i < n; i++) {
    const z = g.normal();
    s1 += z;
    s2 += z * z;
  }
  const mean = s1 / n, variance = s2 / n - mean * mean;
  assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance}`);
  const scaled = new Generator(3).normals(10_000, 0.5);
  const sd = Math.sqrt(scaled.reduce((a, v) => a + v * v, 0) / scaled.length);
  assert.ok(Math.abs(sd - 0.5) < 0.02, `std ${sd}`);
});

Deno.test("Generator.shuffle is a seeded permutation", () => {
  const shuffled = (seed: number) =>
    new Generator(seed).shuffle(Array.from({ length: 100 }, (_, i) => i));
  const a = shuffled(1);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(shuffled(1), a);
  assert.notDeepEqual(shuffled(2), a);
  assert.notDeepEqual(a, Array.from({ length: 100 }, (_, i) => i));
  const typed = new Generator(5).shuffle(Int32Array.from([1, 2, 3, 4, 5, 6, 7]));
  assert.deepEqual([...typed].sort(), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(new Generator(5).shuffle([]), []);
  assert.deepEqual(new Generator(5).shuffle(["x"]), ["x"]);
  // every position is reachable: over many shuffles of 4 items each item visits each slot
  const counts = Array.from({ length: 4 }, () => new Array(4).fill(0));
  const g = new Generator(8);
  for (let t = 0; t < 4000; t++) {
    g.shuffle([0, 1, 2, 3]).forEach((v, slot) => counts[v][slot]++);
  }
  for (const row of counts) for (const c of row) assert.ok(Math.abs(c - 1000) < 150, `${c}`);
});
