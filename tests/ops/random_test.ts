import type { KernelSpec } from "../../src/gpu/kernel.ts";
import {
  fillNormal,
  fillRademacher,
  fillRandomBits,
  fillUniform,
  RANDOM_WGSL,
  randomBits,
  randomNormal,
  type RandomOptions,
  randomRademacher,
  randomUniform,
} from "../../src/ops/random.ts";
import {
  randomBitsAt,
  type RandomCoords,
  randomNormalAt,
  randomRademacherAt,
  randomUniformAt,
} from "../../src/rng.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import { assert, assertClose, assertNoLeak, gpu } from "../_util.ts";

const SIZES = [1, 7, 33 * 17];
const COORDS: RandomOptions[] = [
  { seed: 0 },
  { seed: 42, stream: 1, counter: 3 },
  { seed: 0xffffffff, stream: 0xdeadbeef, counter: 2 ** 32 - 1, rowBase: 9 },
];
/** Box–Muller in f32 vs the float64 twin: ~2 ulps of -2 ln u and of cos/sin (see the shader). */
const NORMAL_TOL = { rtol: 1e-6, atol: 1e-6 };

/** Twin values for `rows` rows of `rowNumel` elements, row r at `rowBase + r`. */
function expected(
  o: RandomOptions,
  rows: number,
  rowNumel: number,
  at: (c: RandomCoords, j: number) => number,
): Float32Array {
  const out = new Float32Array(rows * rowNumel);
  for (let r = 0; r < rows; r++) {
    const c = {
      seed: o.seed,
      stream: o.stream ?? 0,
      counter: o.counter ?? 0,
      row: (o.rowBase ?? 0) + r,
    };
    for (let j = 0; j < rowNumel; j++) out[r * rowNumel + j] = at(c, j);
  }
  return out;
}

/** Twin words (`randomBitsAt`) in the layout of {@linkcode expected}. */
function expectedBits(o: RandomOptions, rows: number, rowNumel: number): Uint32Array {
  const out = new Uint32Array(rows * rowNumel);
  for (let r = 0; r < rows; r++) {
    const c = { seed: o.seed, stream: o.stream ?? 0, counter: o.counter ?? 0 };
    for (let j = 0; j < rowNumel; j++) {
      out[r * rowNumel + j] = randomBitsAt({ ...c, row: (o.rowBase ?? 0) + r }, j);
    }
  }
  return out;
}

/** Reads a tensor and disposes it. */
async function take(t: Tensor): Promise<Float32Array> {
  try {
    return await t.read();
  } finally {
    t.dispose();
  }
}

async function readBits(t: Tensor): Promise<Uint32Array> {
  return new Uint32Array((await t.read()).buffer);
}

function assertBitsEqual(actual: Uint32Array, wanted: Uint32Array, label: string): void {
  assert.equal(actual.length, wanted.length, label);
  for (let i = 0; i < wanted.length; i++) {
    if (actual[i] !== wanted[i]) {
      assert.fail(`${label}: element ${i} is ${actual[i]}, expected ${wanted[i]}`);
    }
  }
}

const hex = (w: Uint32Array) => [...w].map((v) => v.toString(16).padStart(8, "0"));

Deno.test("fillRandomBits reproduces the Random123 Philox4x32-10 vector for key 0, counter 0", async () => {
  const t = randomBits([4], { seed: 0 });
  assert.deepEqual(hex(await readBits(t)), ["6627e8d5", "e169c58d", "bc57ac4c", "9b00dbd8"]);
  t.dispose();
});

for (const n of SIZES) {
  for (const o of COORDS) {
    const name = `seed ${o.seed}, stream ${o.stream ?? 0}, counter ${o.counter ?? 0}`;
    Deno.test(`fillRandomBits equals the CPU twin bit for bit on ${n} elements (${name})`, async () => {
      await assertNoLeak(gpu, async () => {
        const t = fillRandomBits(Tensor.empty([n]), o);
        assertBitsEqual(await readBits(t), expectedBits(o, 1, n), "bits");
        t.dispose();
      });
    });
  }

  Deno.test(`fillUniform, fillRademacher and fillNormal match the CPU twin on ${n} elements`, async () => {
    await assertNoLeak(gpu, async () => {
      const o = { seed: 7 + n, stream: 2, counter: 5, rowBase: 1 };
      const u = randomUniform([n], o);
      assert.deepEqual(await u.read(), expected(o, 1, n, randomUniformAt)); // exact arithmetic
      const s = randomRademacher([n], o);
      assert.deepEqual(await s.read(), expected(o, 1, n, randomRademacherAt));
      const z = randomNormal([n], o);
      assertClose(await z.read(), expected(o, 1, n, randomNormalAt), NORMAL_TOL, "normal");
      for (const t of [u, s, z]) t.dispose();
    });
  });
}

Deno.test("randomBits on P=3 population rows uses rows rowBase + r, as P one-row calls do", async () => {
  await assertNoLeak(gpu, async () => {
    const P = 3, n = 33 * 17;
    const o = { seed: 5, stream: 6, counter: 7, rowBase: 11 };
    const pop = randomBits([P, n], { ...o, population: true });
    assert.deepEqual(pop.shape, [P, n]);
    assert.equal(pop.population, true);
    const all = await readBits(pop);
    assertBitsEqual(all, expectedBits(o, P, n), "population");
    for (let r = 0; r < P; r++) {
      const one = randomBits([n], { ...o, rowBase: o.rowBase + r });
      assertBitsEqual(await readBits(one), all.subarray(r * n, (r + 1) * n), `row ${r}`);
      one.dispose();
    }
    pop.dispose();
  });
});

Deno.test("randomBits wraps row indices past 2^32 like the twin", async () => {
  const o = { seed: 1, rowBase: 2 ** 32 - 2 };
  const t = randomBits([3, 5], { ...o, population: true });
  const want = expectedBits(o, 3, 5);
  assertBitsEqual(await readBits(t), want, "wrap");
  const row0 = randomBits([5], { seed: 1 });
  assertBitsEqual(await readBits(row0), want.subarray(10), "row 2^32 is row 0");
  t.dispose();
  row0.dispose();
});

Deno.test("random fills write only the rows of a strided population view", async () => {
  await assertNoLeak(gpu, async () => {
    const P = 3, n = 33, offset = 3, rowStride = 40, total = offset + P * rowStride + 5;
    const sentinel = -12345;
    const base = tensor(new Float32Array(total).fill(sentinel));
    const view = Tensor.view(gpu, base.buffer, [P, n], { population: true, offset, rowStride });
    const o = { seed: 3, stream: 4, counter: 5, rowBase: 2 };
    const cases: [string, () => void, () => Uint32Array][] = [
      ["bits", () => fillRandomBits(view, o), () => expectedBits(o, P, n)],
      [
        "uniform",
        () => fillUniform(view, o),
        () => new Uint32Array(expected(o, P, n, randomUniformAt).buffer),
      ],
      [
        "rademacher",
        () => fillRademacher(view, { ...o, scale: 0.5 }),
        () => new Uint32Array(expected(o, P, n, (c, j) => 0.5 * randomRademacherAt(c, j)).buffer),
      ],
    ];
    for (const [name, run, want] of cases) {
      run();
      const raw = new Uint32Array((await base.read()).buffer);
      const got = new Uint32Array(P * n);
      for (let r = 0; r < P; r++) {
        got.set(raw.subarray(offset + r * rowStride, offset + r * rowStride + n), r * n);
      }
      assertBitsEqual(got, want(), name);
      const f = new Float32Array(raw.buffer);
      for (let i = 0; i < total; i++) {
        const inRow = i >= offset && (i - offset) % rowStride < n && i < offset + P * rowStride;
        if (!inRow) assert.equal(f[i], sentinel, `${name}: gap element ${i} was written`);
      }
    }
    fillNormal(view, { ...o, mean: 1, std: 2 });
    const z = await view.read();
    const want = expected(o, P, n, (c, j) => 1 + 2 * randomNormalAt(c, j));
    assertClose(z, want, { rtol: 2e-6, atol: 2e-6 }, "normal in a view");
    view.dispose();
    base.dispose();
  });
});

Deno.test("fillUniform maps to [lo, hi) and fillNormal applies mean and std", async () => {
  await assertNoLeak(gpu, async () => {
    const n = 4096, o = { seed: 9, counter: 1 };
    const u = await take(randomUniform([n], { ...o, lo: -2, hi: 3 }));
    const ref = expected(o, 1, n, (c, j) => Math.fround(-2 + 5 * randomUniformAt(c, j)));
    assertClose(u, ref, { rtol: 0, atol: 2.4e-7 }, "uniform [-2, 3)"); // 1 ulp at |x| < 4
    for (const v of u) assert.ok(v >= -2 && v < 3, `${v} outside [-2, 3)`);
    // an interval so narrow that rounding would hit hi: every value stays below it
    const hi = 1 + 2 ** -22;
    const narrow = await take(randomUniform([n], { ...o, lo: 1, hi }));
    for (const v of narrow) assert.ok(v >= 1 && v < hi, `${v} outside [1, ${hi})`);
    const same = await take(randomUniform([5], { ...o, lo: 0.25, hi: 0.25 }));
    assert.deepEqual([...same], [0.25, 0.25, 0.25, 0.25, 0.25]);
    const z = await take(randomNormal([n], { ...o, mean: -1, std: 0.1 }));
    const zr = expected(o, 1, n, (c, j) => -1 + 0.1 * randomNormalAt(c, j));
    assertClose(z, zr, NORMAL_TOL, "normal(-1, 0.1)");
    const zero = await take(randomNormal([3], { ...o, mean: 4, std: 0 }));
    assert.deepEqual([...zero], [4, 4, 4]);
  });
});

Deno.test("randomNormal has mean 0 and variance 1 over 1e6 samples", async () => {
  await assertNoLeak(gpu, async () => {
    const t = randomNormal([4, 250_000], { seed: 2024, stream: 1, population: true });
    const z = await t.read();
    t.dispose();
    const n = z.length;
    let s1 = 0, s2 = 0, s3 = 0, s4 = 0, outside = 0;
    for (const v of z) {
      s1 += v;
      s2 += v * v;
      s3 += v * v * v;
      s4 += v * v * v * v;
      if (Math.abs(v) > 3) outside++;
    }
    const mean = s1 / n, variance = s2 / n - mean * mean;
    assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance}`);
    assert.ok(Math.abs(s3 / n) < 5 * Math.sqrt(15 / n), `third moment ${s3 / n}`);
    assert.ok(Math.abs(s4 / n - 3) < 5 * Math.sqrt(96 / n), `fourth moment ${s4 / n}`);
    const tail = 2 * 0.0013498980316301; // P(|z| > 3)
    assert.ok(Math.abs(outside / n - tail) < 5 * Math.sqrt(tail / n), `P(|z| > 3) ${outside / n}`);
  });
});

Deno.test("randomUniform and randomRademacher have the right moments over 1e6 samples", async () => {
  await assertNoLeak(gpu, async () => {
    const n = 1_000_000;
    const ut = randomUniform([n], { seed: 77 });
    const u = await ut.read();
    let s1 = 0, s2 = 0, lo = 1, hi = 0;
    for (const v of u) {
      s1 += v;
      s2 += v * v;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const mean = s1 / n, variance = s2 / n - mean * mean;
    assert.ok(Math.abs(mean - 0.5) < 5 * Math.sqrt(1 / 12 / n), `uniform mean ${mean}`);
    assert.ok(Math.abs(variance - 1 / 12) < 5 * Math.sqrt(1 / 180 / n), `variance ${variance}`);
    assert.ok(lo >= 0 && hi < 1 && lo < 1e-4 && hi > 1 - 1e-4, `range [${lo}, ${hi}]`);
    const st = randomRademacher([n], { seed: 78, scale: 2 });
    const s = await st.read();
    let sum = 0;
    for (const v of s) {
      assert.ok(v === 2 || v === -2);
      sum += v / 2;
    }
    assert.ok(Math.abs(sum / n) < 5 / Math.sqrt(n), `Rademacher mean ${sum / n}`);
    ut.dispose();
    st.dispose();
  });
});

Deno.test("different seeds, streams, counters and rows give different sequences", async () => {
  await assertNoLeak(gpu, async () => {
    const n = 1000;
    const base = { seed: 1, stream: 2, counter: 3, rowBase: 4 };
    const ref = randomBits([n], base);
    const want = await readBits(ref);
    ref.dispose();
    const variants: RandomOptions[] = [
      { ...base, seed: 2 },
      { ...base, stream: 3 },
      { ...base, counter: 4 },
      { ...base, rowBase: 5 },
    ];
    for (const o of variants) {
      const t = randomBits([n], o);
      const got = await readBits(t);
      t.dispose();
      let same = 0;
      for (let i = 0; i < n; i++) if (got[i] === want[i]) same++;
      assert.ok(same <= 1, `${JSON.stringify(o)}: ${same} of ${n} words equal the base sequence`);
    }
    const again = randomBits([n], base);
    assertBitsEqual(await readBits(again), want, "same coordinates, same bits");
    again.dispose();
  });
});

Deno.test("random fills validate their options with a RangeError naming the option", () => {
  const t = Tensor.empty([4]);
  const bad: [string, () => unknown, RegExp][] = [
    ["seed -1", () => fillRandomBits(t, { seed: -1 }), /fillRandomBits: seed .*-1/],
    ["seed 1.5", () => fillUniform(t, { seed: 1.5 }), /fillUniform: seed .*1\.5/],
    ["seed 2^32", () => fillNormal(t, { seed: 2 ** 32 }), /seed .*4294967296/],
    ["seed NaN", () => fillNormal(t, { seed: NaN }), /seed .*NaN/],
    ["stream", () => fillNormal(t, { seed: 0, stream: -2 }), /fillNormal: stream .*-2/],
    ["counter", () => fillRademacher(t, { seed: 0, counter: 0.5 }), /counter .*0\.5/],
    ["rowBase", () => fillRandomBits(t, { seed: 0, rowBase: 2 ** 32 }), /rowBase .*4294967296/],
    ["std", () => fillNormal(t, { seed: 0, std: -1 }), /fillNormal: std must be >= 0, received -1/],
    ["mean", () => fillNormal(t, { seed: 0, mean: Infinity }), /mean .*Infinity/],
    ["lo > hi", () => fillUniform(t, { seed: 0, lo: 2, hi: 1 }), /lo must be <= hi.*2 > 1/],
    ["hi", () => fillUniform(t, { seed: 0, hi: NaN }), /hi .*NaN/],
    ["span", () => fillUniform(t, { seed: 0, lo: -3e38, hi: 3e38 }), /hi - lo/],
    ["scale", () => fillRademacher(t, { seed: 0, scale: NaN }), /scale .*NaN/],
  ];
  for (const [name, fn, message] of bad) {
    assert.throws(fn, (e: Error) => e instanceof RangeError && message.test(e.message), name);
  }
  t.dispose();
});

Deno.test("randomNormal with bad options allocates nothing", async () => {
  await assertNoLeak(gpu, () => {
    assert.throws(() => randomNormal([8], { seed: 0, std: -1 }), RangeError);
    assert.throws(() => randomUniform([8], { seed: -1 }), RangeError);
    assert.throws(() => randomBits([-1], { seed: 0 }), RangeError);
  });
});

Deno.test("random fills of an empty tensor dispatch nothing", async () => {
  const t = Tensor.empty([0, 5], { population: true });
  const before = gpu.stats.dispatches;
  fillNormal(t, { seed: 1 });
  fillRandomBits(Tensor.empty([0]), { seed: 1 }).dispose();
  assert.equal(gpu.stats.dispatches, before);
  t.dispose();
  await gpu.checkErrors();
});

/** A kernel built by prepending RANDOM_WGSL, the way optimizer kernels draw noise in place. */
function libraryKernel(body: string): KernelSpec {
  return {
    file: "tests/ops/random_test.ts",
    code: RANDOM_WGSL + `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  if (i < arrayLength(&out) / 3u) { ${body} }
}`,
    entryPoint: "main",
    storage: ["write"],
  };
}

Deno.test("RANDOM_WGSL is a binding-free library whose log and sincos are accurate", async () => {
  assert.ok(!/@group|@compute|@binding/.test(RANDOM_WGSL));
  assert.ok(RANDOM_WGSL.includes("fn rng_block("));
  // integer arguments k: the edges, every quadrant boundary and a spread in between
  const ks: number[] = [0, 1, 2, 3, 2 ** 24 - 1, 2 ** 24 - 2, 2 ** 23, 3 * 2 ** 22];
  for (let q = 0; q <= 8; q++) {
    ks.push(Math.max(0, q * 2 ** 21 - 1), Math.min(q * 2 ** 21, 2 ** 24 - 1));
  }
  for (let i = 0; i < 4000; i++) ks.push(Math.floor(((i * 2654435761) >>> 0) / 256));
  const kBuf = tensor(new Float32Array(ks.length * 3).map((_, i) => ks[Math.floor(i / 3)]));
  const spec = libraryKernel(`
    let k = u32(out[3u * i]);
    let l = rng_neg2log(vec2u(k + 1u, 1u));
    let cs = rng_cos_sin_turns(vec2u(k, 0u));
    out[3u * i] = l.x;
    out[3u * i + 1u] = cs.x;
    out[3u * i + 2u] = cs.y;`);
  gpu.dispatch(gpu.kernel(spec), [kBuf.buffer], undefined, [Math.ceil(ks.length / 64)]);
  const r = await kBuf.read();
  kBuf.dispose();
  for (let i = 0; i < ks.length; i++) {
    const k = ks[i];
    const nl = -2 * Math.log((k + 1) / 2 ** 24), angle = (2 * Math.PI * k) / 2 ** 24;
    const lErr = Math.abs(r[3 * i] - nl);
    assert.ok(lErr <= 3e-7 * nl, `-2 ln u for k=${k}: ${r[3 * i]} vs ${nl}`);
    assert.ok(Math.abs(r[3 * i + 1] - Math.cos(angle)) <= 1.5e-7, `cos for k=${k}`);
    assert.ok(Math.abs(r[3 * i + 2] - Math.sin(angle)) <= 1.5e-7, `sin for k=${k}`);
  }
});
