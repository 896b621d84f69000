import { Gpu, NO_ADAPTER_HELP } from "../../src/gpu/device.ts";
import type { KernelSpec } from "../../src/gpu/kernel.ts";
import { diffStats } from "../../src/gpu/stats.ts";
import { axpy, copy, fill, scale, zeros } from "../../src/ops/elementwise.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import { assert, gpu } from "../_util.ts";

const BAD: KernelSpec = {
  file: "shaders/broken.wgsl",
  code: "// a comment\n@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = nope;\n}\n",
  entryPoint: "main",
  storage: [],
};

Deno.test("Gpu reports a WGSL compile error with the kernel file and line", async () => {
  const own = await Gpu.create();
  try {
    const kernel = own.kernel(BAD);
    own.dispatch(kernel, [], undefined, [1]);
    own.flush();
    await assert.rejects(own.checkErrors(), (e: Error) => {
      assert.match(e.message, /shaders\/broken\.wgsl:4/);
      assert.match(e.message, /nope/);
      return true;
    });
  } finally {
    own.destroy();
  }
});

Deno.test("Gpu throws instead of hanging once the device is destroyed", async () => {
  const own = await Gpu.create();
  const x = tensor([1, 2, 3], [3], { gpu: own });
  const pending = x.read();
  own.destroy();
  await assert.rejects(
    Promise.race([
      pending.then(() => x.read()),
      new Promise((_, reject) => setTimeout(() => reject(new Error("hang")), 5000)),
    ]),
    /device lost/,
  );
  assert.throws(() => scale(x, 2), /device lost/);
  assert.ok(own.isLost);
});

Deno.test("Gpu.create explains how to get an adapter when there is none", async () => {
  const original = navigator.gpu.requestAdapter;
  Object.defineProperty(navigator.gpu, "requestAdapter", {
    value: () => Promise.resolve(null),
    configurable: true,
  });
  try {
    await assert.rejects(Gpu.create(), (e: Error) => e.message === NO_ADAPTER_HELP);
    assert.match(NO_ADAPTER_HELP, /mesa-vulkan-drivers/);
  } finally {
    Object.defineProperty(navigator.gpu, "requestAdapter", { value: original, configurable: true });
  }
});

Deno.test("ops record work without submitting or reading back; read() is the readback", async () => {
  const x = zeros([4, 100], { population: true });
  const before = gpu.stats.snapshot();
  for (let i = 0; i < 10; i++) axpy(x, fill(Tensor.empty([100]), 1), 1).keep();
  const during = diffStats(before, gpu.stats.snapshot());
  assert.equal(during.readbacks, 0);
  assert.equal(during.submits, 0);
  assert.equal(during.dispatches, 20);
  const values = await x.read();
  const after = diffStats(before, gpu.stats.snapshot());
  assert.equal(after.readbacks, 1);
  assert.equal(after.submits, 1);
  assert.ok(values.every((v) => v === 10));
  x.dispose();
});

Deno.test("uniform slots survive more dispatches than one arena chunk holds", async () => {
  const x = zeros([3]);
  const one = tensor([1, 2, 3]);
  for (let i = 0; i < 600; i++) axpy(x, one, i % 2 === 0 ? 1 : 2);
  assert.deepEqual([...await x.read()], [900, 1800, 2700]);
  x.dispose();
  one.dispose();
});

Deno.test("a CPU write keeps program order with work recorded before it", async () => {
  const x = tensor([1, 2, 3]);
  const y = copy(x); // recorded, not yet submitted
  gpu.write(x.buffer, 0, new Float32Array([7, 8, 9]));
  assert.deepEqual([...await y.read()], [1, 2, 3]);
  assert.deepEqual([...await x.read()], [7, 8, 9]);
  x.dispose();
  y.dispose();
});

Deno.test("the buffer pool reuses buffers of the same size and counts bytes", () => {
  const before = gpu.stats.snapshot();
  const a = Tensor.empty([1000]);
  a.dispose();
  const b = Tensor.empty([1000]);
  const d = diffStats(before, gpu.stats.snapshot());
  assert.ok(d.buffersCreated <= 1, `created ${d.buffersCreated}`);
  assert.equal(d.bytesInUse, 4000);
  b.dispose();
  assert.equal(gpu.stats.bytesInUse, before.bytesInUse);
  const raw = gpu.pool.acquire(64);
  gpu.pool.release(raw);
  assert.throws(() => gpu.pool.release(raw), /not in use/);
});

Deno.test("the pipeline cache compiles each kernel and constant set once", () => {
  const x = zeros([5]);
  scale(x, 2).dispose();
  const before = gpu.stats.snapshot();
  for (let i = 0; i < 5; i++) scale(x, 2).dispose();
  assert.equal(diffStats(before, gpu.stats.snapshot()).pipelinesCompiled, 0);
  x.dispose();
});

Deno.test("Gpu exposes the adapter description and the adapter's limits", () => {
  assert.equal(typeof gpu.adapter.description, "string");
  assert.ok(gpu.adapterName.includes(gpu.variant));
  assert.ok(gpu.limits.maxComputeInvocationsPerWorkgroup >= 256);
  assert.ok(gpu.limits.maxStorageBufferBindingSize >= 128 * 1024 * 1024);
  assert.equal(gpu.variant, gpu.adapter.isFallbackAdapter ? "fallback" : "tiled");
});

Deno.test("a compile error after a prelude names the line in the kernel's own file", async () => {
  const own = await Gpu.create();
  try {
    const spec: KernelSpec = {
      file: "shaders/with_prelude.wgsl",
      prelude: "fn helper() -> f32 { return 1.0; }\n// more library\n// and more\n",
      code: "@compute @workgroup_size(1)\nfn main() {\n  let y: f32 = helper() + missing;\n}\n",
      entryPoint: "main",
      storage: [],
    };
    own.dispatch(own.kernel(spec), [], undefined, [1]);
    await assert.rejects(own.checkErrors(), /shaders\/with_prelude\.wgsl:3:/);
  } finally {
    own.destroy();
  }
});

Deno.test("Gpu.derived builds once per key, rebuilds after a write, keeps at most 32 keys per source", () => {
  const source = tensor([1, 2, 3, 4], [4]);
  const base = gpu.stats.bytesInUse;
  const builds: string[] = [];
  const get = (key: string) =>
    gpu.derived(source.buffer, key, 64, (target) => {
      builds.push(key);
      assert.equal(target.size, 64);
    });
  const a = get("a");
  assert.equal(get("a"), a);
  assert.deepEqual(builds, ["a"]);
  fill(source, 5); // a kernel writes the source
  assert.equal(get("a"), a, "rebuilt in place");
  assert.deepEqual(builds, ["a", "a"]);
  for (let i = 0; i < 40; i++) get(`k${i}`);
  assert.equal(gpu.stats.bytesInUse - base, 32 * 64, "the least recently used went back");
  builds.length = 0;
  get("k39");
  get("a"); // evicted: built anew
  assert.deepEqual(builds, ["a"]);
  source.dispose();
  assert.equal(gpu.stats.bytesInUse, base - 16, "all of them went back with the source");
});

Deno.test("one cached bind group serves dispatches with different parameters in one submission", async () => {
  const x = fill(zeros([8]), 1);
  const y = zeros([8]);
  axpy(y, x, 2); // same kernel, same buffers: one bind group, two uniform slots
  const before = gpu.stats.bindGroupsCreated;
  axpy(y, x, 3);
  axpy(y, x, -0.5, 2); // y = 2y - 0.5x
  assert.equal(gpu.stats.bindGroupsCreated, before);
  assert.deepEqual([...await y.read()], new Array(8).fill(9.5));
  x.dispose();
  y.dispose();
});

Deno.test("Gpu.wrote declares a write made through the raw device", () => {
  const source = tensor([1, 2, 3, 4], [4]);
  let builds = 0;
  const get = () => gpu.derived(source.buffer, "raw", 16, () => builds++);
  get();
  gpu.device.queue.writeBuffer(source.buffer, 0, new Float32Array([5, 6, 7, 8]));
  get();
  assert.equal(builds, 1, "a raw write is not seen");
  gpu.wrote(source.buffer);
  get();
  assert.equal(builds, 2);
  source.dispose();
});

Deno.test("Gpu.derived after a failed build builds again and still frees with the source", () => {
  const source = tensor([1, 2, 3, 4], [4]);
  const base = gpu.stats.bytesInUse;
  assert.throws(() =>
    gpu.derived(source.buffer, "fails", 16, () => {
      throw new Error("build failed");
    }), /build failed/);
  let builds = 0;
  gpu.derived(source.buffer, "fails", 16, () => builds++);
  assert.equal(builds, 1, "not taken for built");
  assert.equal(gpu.stats.bytesInUse - base, 16);
  source.dispose();
  assert.equal(gpu.stats.bytesInUse, base - 16);
});
