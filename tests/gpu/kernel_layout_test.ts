import {
  type KernelSpec,
  packParams,
  paramsByteSize,
  uniformLayout,
} from "../../src/gpu/kernel.ts";
import { uniformStructs, wgslConstants } from "../../src/gpu/wgsl_layout.ts";
import { assert, gpu } from "../_util.ts";

const SMALL = `
struct Params {
  n: u32,   // element count
  shift: i32,
  /* a block comment, with a comma */ scale: f32,
  // a whole-line comment
  off: u32
}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(1)
fn main() {
  out[p.off] = f32(p.n) * p.scale + f32(p.shift);
}
`;

/** Two entry points with their own binding tables and uniform structs, as in zo_walk.wgsl. */
const TWO = `
struct Params { a: u32, b: f32, c: u32, }
struct RegParams {
  k: u32,
  weight: f32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> z: array<f32>;
@binding(3) @group(0)
var<uniform> p: Params;
@group(0) @binding(2) var<uniform> rp: RegParams;

@compute @workgroup_size(1)
fn main() { z[p.a] = x[p.c] * p.b + y[0]; }

@compute @workgroup_size(1)
fn reg() { y[rp.k] = x[0] * rp.weight; }
`;

const NO_UNIFORM = `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1)
fn main() { out[0] = 1.0; }
`;

function spec(code: string, storage: KernelSpec["storage"], extra: Partial<KernelSpec> = {}) {
  return { file: "shaders/test.wgsl", code, entryPoint: "main", storage, ...extra } as KernelSpec;
}

Deno.test("uniformLayout reads the WGSL struct of a small shader in field order, once", () => {
  const s = spec(SMALL, ["write"]);
  const layout = uniformLayout(s)!;
  assert.deepEqual(layout.fields, [["n", "u32"], ["shift", "i32"], ["scale", "f32"], [
    "off",
    "u32",
  ]]);
  assert.equal(layout.struct, "Params");
  assert.equal(layout.variable, "p");
  assert.equal(layout.binding, 1);
  assert.equal(layout.byteSize, 16);
  assert.strictEqual(uniformLayout(s), layout, "cached per spec object");
  assert.equal(uniformLayout(spec(NO_UNIFORM, ["write"])), null);
  assert.equal(paramsByteSize(spec(NO_UNIFORM, ["write"])), 16);
  assert.equal(paramsByteSize(spec(TWO, ["read", "write", "write"])), 16);
});

Deno.test("uniformLayout picks the struct at binding storage.length when entry points share a file", () => {
  const main = uniformLayout(spec(TWO, ["read", "write", "write"]))!;
  const reg = uniformLayout(spec(TWO, ["read", "write"], { entryPoint: "reg" }))!;
  assert.equal(main.struct, "Params");
  assert.deepEqual(main.fields.map(([n]) => n), ["a", "b", "c"]);
  assert.equal(reg.struct, "RegParams");
  assert.deepEqual(reg.fields, [["k", "u32"], ["weight", "f32"]]);
  assert.equal(uniformLayout(spec(TWO, ["read"])), null);
});

Deno.test("uniformLayout finds the uniform and its struct across code and prelude", () => {
  const prelude = "struct Params { seed: u32, lo: f32 }\n";
  const code = "@group(0) @binding(0) var<uniform> p: Params;\n";
  const layout = uniformLayout(spec(code, [], { prelude }))!;
  assert.deepEqual(layout.fields, [["seed", "u32"], ["lo", "f32"]]);
});

Deno.test("packParams writes the values in WGSL struct order with each field's type", () => {
  const view = new DataView(new ArrayBuffer(32));
  packParams(spec(SMALL, ["write"]), { scale: 0.5, off: 7, n: 2 ** 32 - 1, shift: -3 }, view, 16);
  assert.equal(view.getUint32(16, true), 2 ** 32 - 1);
  assert.equal(view.getInt32(20, true), -3);
  assert.equal(view.getFloat32(24, true), 0.5);
  assert.equal(view.getUint32(28, true), 7);
});

Deno.test("packParams throws a TypeError for a missing value and for a name the struct lacks", () => {
  const s = spec(SMALL, ["write"]);
  const view = new DataView(new ArrayBuffer(16));
  const all = { n: 1, shift: 0, scale: 1, off: 0 };
  assert.throws(
    () => packParams(s, { n: 1, shift: 0, scale: 1 }, view, 0),
    TypeError,
    'main: missing kernel parameter "off"',
  );
  assert.throws(
    () => packParams(s, { ...all, offset: 3 }, view, 0),
    TypeError,
    'main: unknown kernel parameter "offset" (not a field of struct Params in shaders/test.wgsl)',
  );
  const undefinedKey = { ...all, stale: undefined } as unknown as Record<string, number>;
  assert.throws(() => packParams(s, undefinedKey, view, 0), TypeError, '"stale"');
  assert.throws(
    () => packParams(s, { ...all, n: 1.5 }, view, 0),
    TypeError,
    'parameter "n" must be an integer',
  );
});

Deno.test("Gpu.dispatch throws a TypeError for values given to a kernel without a uniform", () => {
  const s = spec("@compute @workgroup_size(1)\nfn main() {}\n", []);
  assert.throws(
    () => gpu.dispatch(gpu.kernel(s), [], { n: 1 }, [1]),
    TypeError,
    'unknown kernel parameter "n" (the kernel has no uniform at binding 0)',
  );
});

Deno.test("KernelSpec.params that disagree with the WGSL struct throw a TypeError naming the field", () => {
  const bad = (params: KernelSpec["params"]) =>
    spec(SMALL, ["write"], { entryPoint: "main", params });
  const cases: [KernelSpec["params"], string][] = [
    [{ n: "u32", shift: "u32", scale: "f32", off: "u32" }, 'field 1: params give "shift: u32"'],
    [{ n: "u32", shift: "i32", size: "f32", off: "u32" }, 'the WGSL has "scale: f32"'],
    [{ n: "u32", shift: "i32", scale: "f32" }, 'field 3: params give nothing, the WGSL has "off'],
    [{ n: "u32", shift: "i32", scale: "f32", off: "u32", more: "u32" }, 'give "more: u32"'],
    [{ shift: "i32", n: "u32", scale: "f32", off: "u32" }, "field 0"],
  ];
  for (const [params, field] of cases) {
    assert.throws(() => uniformLayout(bad(params)), (e: Error) => {
      assert.ok(e instanceof TypeError, e.message);
      assert.match(e.message, /^shaders\/test\.wgsl \(entry main\): params disagree/);
      assert.ok(e.message.includes(field), e.message);
      return true;
    });
  }
  assert.throws(() => gpu.kernel(bad(cases[0][0])), TypeError, 'params give "shift: u32"');
  assert.throws(
    () => uniformLayout(spec(NO_UNIFORM, ["write"], { params: { n: "u32" } })),
    TypeError,
    "(no uniform at binding 1) at field 0",
  );
  const good = { n: "u32", shift: "i32", scale: "f32", off: "u32" } as const;
  assert.equal(uniformLayout(bad(good))!.fields.length, 4);
});

Deno.test("uniformLayout throws an Error naming the file, struct and field of a non-scalar field", () => {
  const code = (field: string) =>
    `struct Params {\n  n: u32,\n  ${field},\n}\n@group(0) @binding(0) var<uniform> p: Params;\n`;
  assert.throws(
    () => uniformLayout(spec(code("v: vec2<f32>"), [])),
    Error,
    'shaders/test.wgsl:1: struct Params field "v" must be u32, i32 or f32, received "vec2<f32>"',
  );
  assert.throws(
    () => uniformLayout(spec(code("@align(16) m: f32"), [])),
    /struct Params field "@align\(16\) m: f32": attributes/,
  );
  assert.throws(
    () => uniformLayout(spec("@group(0) @binding(0) var<uniform> v: vec4f;\n", [])),
    /uniform "v" has type "vec4f", which is not a struct/,
  );
  assert.throws(
    () => uniformLayout(spec("@group(0) @binding(0) var<uniform> v: array<vec4f, 2>;\n", [])),
    /uniform "v" must have a struct type, received "array<vec4f, 2>"/,
  );
});

Deno.test("wgslConstants reads typed, untyped and hexadecimal module-scope constants", () => {
  const code = `
const STEP_OPPOSITE: u32 = 1u; // a flag
const MASK: u32 = 0x10u;
const HEX = 0xFF;
const NEG: i32 = -4i;
const HALF: f32 = 0.5;
const TINY = 5.9604644775390625e-8f;
const THREE = 3u;
/* const HIDDEN: u32 = 9u; */
fn f() -> u32 { const LOCAL: u32 = 2u; return LOCAL; }
`;
  assert.deepEqual(
    wgslConstants(code, ["STEP_OPPOSITE", "MASK", "HEX", "NEG", "HALF", "TINY", "THREE"]),
    {
      STEP_OPPOSITE: 1,
      MASK: 16,
      HEX: 255,
      NEG: -4,
      HALF: 0.5,
      TINY: 5.9604644775390625e-8,
      THREE: 3,
    },
  );
  for (const hidden of ["HIDDEN", "LOCAL", "MISSING"]) {
    assert.throws(
      () => wgslConstants(code, ["MASK", hidden]),
      Error,
      `wgslConstants: constant "${hidden}" is not declared at module scope`,
    );
  }
});

Deno.test("wgslConstants throws naming a constant that is not a numeric literal", () => {
  const code = "const A: u32 = 1u << 3u;\nconst B: u32 = 1.5;\nconst C: u32 = -1;\n";
  assert.throws(() => wgslConstants(code, ["A"]), Error, 'constant "A: u32" must be a numeric');
  assert.throws(() => wgslConstants(code, ["B"]), Error, 'received "1.5"');
  assert.throws(() => wgslConstants(code, ["C"]), Error, '"C: u32"');
});

Deno.test("every var<uniform> in shaders/*.wgsl has a struct of u32, i32 and f32 fields", async () => {
  const dir = new URL("../../shaders/", import.meta.url);
  let files = 0, uniforms = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".wgsl")) continue;
    const code = await Deno.readTextFile(new URL(entry.name, dir));
    for (const u of uniformStructs(code, `shaders/${entry.name}`)) {
      assert.ok(u.fields.length > 0, `${entry.name}: ${u.struct}`);
      for (const [, type] of u.fields) {
        assert.ok(type === "u32" || type === "i32" || type === "f32");
      }
      uniforms++;
    }
    files++;
  }
  assert.ok(files > 0 && uniforms > 0, `${files} files, ${uniforms} uniforms`);
});
