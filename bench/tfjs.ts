/**
 * The MNIST CNN's forward pass in TensorFlow.js against ours, in the same process: forwards per
 * second at batch 32 with the same weights, for tfjs's WebGPU backend (on the same adapter as
 * ours) and its WebAssembly backend (on the CPU).
 *
 * tfjs runs the network in NHWC with the weights transposed from ours (torch layout); before
 * the linear layer its activations are put back in NCHW order, so both flatten the same way.
 * The outputs are compared first (the run stops if they differ by more than 1e-3), so all time
 * the same computation. Then `--rounds` rounds (default 5) each time a batch of forwards of
 * every contender: tfjs in `tf.tidy` with one readback at the end, ours flushed every 16 with
 * one readback. The medians and the ratios ours / tfjs are printed, then one JSON line.
 *
 *     deno run --allow-read --allow-env=LP_NUM_THREADS bench/tfjs.ts [--rounds 5]
 *
 * tfjs is a benchmark dependency only (npm `@tensorflow/tfjs-core`, `-backend-webgpu` and
 * `-backend-wasm`, pinned below); the library does not use it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as tf from "npm:@tensorflow/tfjs-core@4.22.0";
import "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
import { setWasmPaths } from "npm:@tensorflow/tfjs-backend-wasm@4.22.0";
import { initGpu, manualSeed, mnistCnn, tensor, tidy } from "../mod.ts";
import { median } from "./_timing.ts";

const BATCH = 32;

/** torch conv weight [co, ci, kh, kw] → tfjs filter [kh, kw, ci, co]. */
function filter(w: Float32Array, co: number, ci: number, k: number): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(w, [co, ci, k, k]), [2, 3, 1, 0]) as tf.Tensor4D);
}

/** The same network in tfjs, from our model's row-0 parameters. */
async function tfjsCnn(values: Float32Array[]) {
  const [w1, b1, w2, b2, w3, b3, wl, bl] = values;
  const f1 = filter(w1, 16, 1, 4), f2 = filter(w2, 32, 16, 3), f3 = filter(w3, 64, 32, 2);
  const c1 = tf.tensor1d(b1), c2 = tf.tensor1d(b2), c3 = tf.tensor1d(b3);
  const lw = tf.tidy(() => tf.transpose(tf.tensor2d(wl, [10, 256]))); // [256, 10]
  const lb = tf.tensor1d(bl);
  const block = (x: tf.Tensor4D, f: tf.Tensor4D, b: tf.Tensor1D) =>
    tf.relu(tf.maxPool(tf.add(tf.conv2d(x, f, 1, "valid"), b) as tf.Tensor4D, 2, 2, "valid"));
  await tf.ready();
  return (x: tf.Tensor4D): tf.Tensor2D => {
    const h = block(block(block(x, f1, c1) as tf.Tensor4D, f2, c2) as tf.Tensor4D, f3, c3);
    const nchw = tf.reshape(tf.transpose(h, [0, 3, 1, 2]), [x.shape[0], 256]);
    return tf.add(tf.matMul(nchw, lw), lb) as tf.Tensor2D;
  };
}

/** Forwards per second of `forward` over a batch of `n` calls. */
type Timer = (n: number) => Promise<number>;

function tfjsTimer(backend: string, forward: (x: tf.Tensor4D) => tf.Tensor2D, x: tf.Tensor4D) {
  return async (n: number) => {
    await tf.setBackend(backend);
    const t0 = performance.now();
    let last: tf.Tensor | null = null;
    for (let i = 0; i < n; i++) {
      last?.dispose();
      last = tf.tidy(() => forward(x));
    }
    await last!.data();
    last!.dispose();
    return n / ((performance.now() - t0) / 1000);
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { rounds: { type: "string" } } });
  const rounds = Number(values.rounds ?? 5);
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError("--rounds must be ≥ 1");
  const gpu = await initGpu();
  manualSeed(0);
  const model = mnistCnn();
  const params = await Promise.all(model.parameters().map((p) => p.read()));
  const images = Float32Array.from({ length: BATCH * 784 }, (_, i) => Math.sin(i * 0.1));
  const x = tensor(images, [BATCH, 1, 28, 28]);
  const ours = await tidy(() => model.forward(x)).read();

  const wasm = import.meta.resolve(
    "npm:@tensorflow/tfjs-backend-wasm@4.22.0/dist/tfjs-backend-wasm.wasm",
  );
  setWasmPaths(new URL("./", wasm).href);
  const timers: Record<string, Timer> = {};
  for (const backend of ["webgpu", "wasm"]) {
    if (!(await tf.setBackend(backend))) {
      throw new Error(`tfjs: the ${backend} backend did not start`);
    }
    const tx = tf.tensor4d(images, [BATCH, 28, 28, 1]); // C = 1: NCHW and NHWC coincide
    const forward = await tfjsCnn(params);
    const theirs = await tf.tidy(() => forward(tx)).data();
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
    }
    console.log(
      `tfjs ${tf.version_core} ${backend}: outputs agree, max |ours − tfjs| = ${
        maxDiff.toExponential(2)
      }`,
    );
    if (!(maxDiff <= 1e-3)) throw new Error(`tfjs ${backend} and ours compute different functions`);
    timers[`tfjs_${backend}`] = tfjsTimer(backend, forward, tx);
  }
  timers.ours = async (n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      tidy(() => void model.forward(x));
      if (i % 16 === 15) gpu.flush();
    }
    await gpu.readBuffer(model.flat.buffer, 0, 4);
    return n / ((performance.now() - t0) / 1000);
  };
  console.log(`adapter: ${gpu.adapterName}`);

  // Warm-up (shader compiles), then batches of about half a second, sized from one probe.
  const sizes: Record<string, number> = {};
  const rates: Record<string, number[]> = {};
  for (const [name, time] of Object.entries(timers)) {
    await time(2);
    sizes[name] = Math.max(2, Math.round(0.5 * (await time(8))));
    rates[name] = [];
  }
  for (let r = 0; r < rounds; r++) {
    for (const [name, time] of Object.entries(timers)) rates[name].push(await time(sizes[name]));
  }
  const result: Record<string, string | number> = { adapter: gpu.adapterName };
  for (const [name, list] of Object.entries(rates)) result[`${name}_forward_per_s`] = median(list);
  for (const backend of ["webgpu", "wasm"]) {
    const theirs = rates[`tfjs_${backend}`];
    const ratio = median(rates.ours) / median(theirs);
    result[`ours_over_tfjs_${backend}`] = ratio;
    console.log(
      `forwards/s at batch 32 (median of ${rounds}): tfjs ${backend} ${
        median(theirs).toFixed(1)
      }, ` +
        `ours ${median(rates.ours).toFixed(1)}: ours / tfjs = ${ratio.toFixed(2)}× (rounds: ` +
        `${rates.ours.map((o, i) => (o / theirs[i]).toFixed(2)).join(", ")})`,
    );
  }
  console.log(JSON.stringify(result));
  x.dispose();
  model.flat.dispose();
}
