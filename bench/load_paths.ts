/**
 * What a load costs on the adapter, by where it reads from: one kernel per path does 48 vec4
 * loads per invocation (straight-line, or inside a loop whose bound comes from a uniform) and
 * the time per invocation-load is printed, beside the same kernel doing vec4 multiply-adds
 * only. On Mesa 22.3's llvmpipe this is what shaped the convolution kernels: a storage load
 * costs about as much as 25-30 vec4 FMAs whether its address is uniform or not (lavapipe runs
 * it as a loop over the 8 SIMD lanes, with a bounds check per component), uniform and
 * workgroup buffers are no cheaper, and only private arrays indexed by constants (registers or
 * stack) are.
 *
 *     deno run --allow-env=LP_NUM_THREADS bench/load_paths.ts
 *
 * @module
 */

import { initGpu } from "../src/gpu/device.ts";

const WG = 64, GROUPS = 2048, LOADS = 96;

const PATHS: Record<string, (i: number) => string> = {
  "storage, uniform address": (i) => `acc += s[(base + ${i}u) & 1023u];`,
  "storage, per-lane address": (i) => `acc += s[(base + lid * 7u + ${i}u) & 1023u];`,
  "uniform buffer, uniform address": (i) => `acc += u[(base + ${i}u) & 1023u];`,
  "uniform buffer, per-lane address": (i) => `acc += u[(base + lid * 7u + ${i}u) & 1023u];`,
  "workgroup, per-lane address": (i) => `acc += w[(base + lid * 7u + ${i}u) & 1023u];`,
  "private, constant index": (i) => `acc += pv[${i % 16}];`,
  "no load (vec4 multiply-add)": (i) => `acc = acc * 1.0001 + vec4f(${i}.0);`,
};

function kernel(body: string, inLoop: boolean): string {
  const shared = body.includes("w[")
    ? `for (var k = lid; k < 1024u; k += ${WG}u) { w[k] = vec4f(f32(k)); }\n  workgroupBarrier();`
    : "";
  const priv = body.includes("pv[")
    ? "var pv: array<vec4f, 16>;\n  for (var k = 0u; k < 16u; k++) { pv[k] = vec4f(f32(k + lid)); }"
    : "";
  return `
@group(0) @binding(0) var<storage, read> s: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> o: array<vec4f>;
@group(0) @binding(2) var<uniform> n: vec4u;
@group(0) @binding(3) var<uniform> u: array<vec4f, 1024>;
var<workgroup> w: array<vec4f, 1024>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  var acc = vec4f(0.0);
  let base = wid.x * 3u;
  ${shared}
  ${priv}
  ${inLoop ? "for (var it = 0u; it < n.x; it++) {" : ""}
  ${body}
  ${inLoop ? "}" : ""}
  o[wid.x * ${WG}u + lid] = acc + s[0] + u[0] + f32(n.y);
}`;
}

if (import.meta.main) {
  const gpu = await initGpu();
  const device = gpu.device;
  console.log(`adapter: ${gpu.adapterName}`);
  const sb = device.createBuffer({ size: 1024 * 16, usage: GPUBufferUsage.STORAGE });
  const ub = device.createBuffer({ size: 1024 * 16, usage: GPUBufferUsage.UNIFORM });
  const ob = device.createBuffer({ size: GROUPS * WG * 16, usage: GPUBufferUsage.STORAGE });
  const nb = device.createBuffer({
    size: 16,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(nb, 0, new Uint32Array([1, 0, 0, 0]));
  console.log("| path | ns per invocation-load, straight-line | in a loop |");
  console.log("|---|---|---|");
  for (const [name, load] of Object.entries(PATHS)) {
    const body = Array.from({ length: LOADS }, (_, i) => load(i)).join("\n");
    const cells: string[] = [];
    for (const inLoop of [false, true]) {
      device.pushErrorScope("validation");
      const module = device.createShaderModule({ code: kernel(body, inLoop) });
      const pipeline = device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      const bindGroup = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: sb } },
          { binding: 1, resource: { buffer: ob } },
          { binding: 2, resource: { buffer: nb } },
          { binding: 3, resource: { buffer: ub } },
        ],
      });
      const error = await device.popErrorScope();
      if (error !== null) throw new Error(`${name}: ${error.message}`);
      const run = async (reps: number) => {
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        for (let r = 0; r < reps; r++) pass.dispatchWorkgroups(GROUPS);
        pass.end();
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
      };
      await run(1);
      let best = Infinity;
      for (let t = 0; t < 3; t++) {
        const t0 = performance.now();
        await run(10);
        const t1 = performance.now();
        await run(2);
        const t2 = performance.now();
        best = Math.min(best, (t1 - t0 - (t2 - t1)) / 8); // the two batches cancel the sync
      }
      cells.push((best / (GROUPS * WG * LOADS) * 1e6).toFixed(3));
    }
    console.log(`| ${name} | ${cells[0]} | ${cells[1]} |`);
  }
  for (const b of [sb, ub, ob, nb]) b.destroy();
  gpu.destroy();
}
