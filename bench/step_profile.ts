/**
 * Where the time of one optimizer step goes, kernel by kernel: records the dispatches of one
 * step on the MNIST CNN (batch 32), then replays each recorded dispatch alone `--repeats`
 * times in one submission and reports its time per call. Kernels whose time per call is far
 * above what their work explains stand out (on Mesa 22.3's lavapipe, for example, a kernel
 * whose loop bounds come from the uniform buffer is re-compiled on every dispatch: ~7 ms).
 *
 *     deno run --allow-env=LP_NUM_THREADS bench/step_profile.ts [--workload swarm] [--repeats 30]
 *     deno run --allow-env=LP_NUM_THREADS bench/step_profile.ts --workload forward --rows 64 --batch 256
 *
 * Workloads: forward (P = `--rows` rows, default 2, no optimizer), randomgrad, bestgrad, spsa,
 * randomwalk, swarm, openes (one OpenAI-ES generation of `--rows` members); `--batch` images per batch (default 32).
 * Replays run on the state the step left behind, so they time the kernels, not the numbers.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  AdamW,
  crossEntropy,
  type Gpu,
  initGpu,
  mnistCnn,
  OpenAIES,
  type Optimizer,
  RandomWalk,
  type Sequential,
  SPSA,
  tensor,
  tidy,
} from "../mod.ts";
import { WORKLOADS as STEP_WORKLOADS } from "./mnist_steps.ts";

/** A workload's optimizer, given the model and `--rows` (the population of `openes`). */
type MakeWithRows = (model: Sequential, rows: number) => Optimizer<object>;

const WORKLOADS: Record<string, MakeWithRows | null> = {
  forward: null,
  openes: (m, rows) => new OpenAIES(m.parameters(), { popSize: rows, sigma: 0.05, seed: 1 }),
  ...STEP_WORKLOADS,
  spsa: (m) => {
    const p = m.parameters();
    return new SPSA(p, { magn: 1e-5, opt: new AdamW(p, { lr: 1e-3 }) });
  },
  randomwalk: (m) => new RandomWalk(m.parameters(), { lr: 2e-3 }),
};

/** Time per call of every kernel of one step, summed per kernel and launch size. */
export interface KernelTime {
  kernel: string;
  groups: string;
  callsPerStep: number;
  msPerCall: number;
  msPerStep: number;
}

type DispatchArgs = Parameters<Gpu["dispatch"]>;

/** Records one step of a workload and replays each of its dispatches `repeats` times. */
export async function profileStep(
  gpu: Gpu,
  { workload, repeats = 30, rows = 2, batch = 32 }: {
    workload: string;
    repeats?: number;
    rows?: number;
    batch?: number;
  },
): Promise<{ stepMs: number; kernels: KernelTime[] }> {
  const make = WORKLOADS[workload];
  if (make === undefined) throw new RangeError(`unknown workload ${workload}`);
  const B = batch;
  const x = tensor(Float32Array.from({ length: B * 784 }, (_, i) => Math.sin(i)), [B, 1, 28, 28]);
  const y = tensor(Array.from({ length: B }, (_, i) => i % 10), [B]);
  const model = mnistCnn();
  const opt = make === null ? null : make(model, rows);
  if (opt === null) {
    model.flat.setRows(rows);
    model.flat.setActive(rows);
  }
  const step = () =>
    tidy(() => {
      if (opt === null) return void model.forward(x);
      opt.step(() => {
        opt.zeroGrad();
        return crossEntropy(model.forward(x), y, { reduction: "none" });
      });
    });
  for (let i = 0; i < 3; i++) step();
  await gpu.readBuffer(model.flat.buffer, 0, 4);
  // Sync floor of one readback (~11 ms), subtracted from every timed batch below.
  let t0 = performance.now();
  await gpu.readBuffer(model.flat.buffer, 0, 4);
  const floor = performance.now() - t0;
  // Time of a whole step, for scale.
  const steps = Math.max(2, Math.min(20, Math.round(640 / (rows * B / 32))));
  t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  await gpu.readBuffer(model.flat.buffer, 0, 4);
  const stepMs = Math.max(0, performance.now() - t0 - floor) / steps;

  const recorded: DispatchArgs[] = [];
  const dispatch = gpu.dispatch.bind(gpu);
  gpu.dispatch = (...args: DispatchArgs) => {
    recorded.push(args);
    dispatch(...args);
  };
  try {
    step();
  } finally {
    gpu.dispatch = dispatch;
  }
  await gpu.readBuffer(model.flat.buffer, 0, 4);
  const byKey = new Map<string, KernelTime>();
  for (const args of recorded) {
    const [kernel, , , groups] = args;
    t0 = performance.now();
    for (let r = 0; r < repeats; r++) dispatch(...args);
    await gpu.readBuffer(model.flat.buffer, 0, 4);
    const ms = Math.max(0, performance.now() - t0 - floor) / repeats;
    const name = `${kernel.spec.file.replace(/^shaders\//, "")}:${kernel.spec.entryPoint}`;
    const g = groups.map((v) => v ?? 1).join("x");
    const key = `${name} ${g}`;
    const entry = byKey.get(key) ??
      { kernel: name, groups: g, callsPerStep: 0, msPerCall: 0, msPerStep: 0 };
    entry.callsPerStep++;
    entry.msPerStep += ms;
    entry.msPerCall = entry.msPerStep / entry.callsPerStep;
    byKey.set(key, entry);
  }
  opt?.dispose();
  model.flat.dispose();
  x.dispose();
  y.dispose();
  return { stepMs, kernels: [...byKey.values()].sort((a, b) => b.msPerStep - a.msPerStep) };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      workload: { type: "string", default: "swarm" },
      repeats: { type: "string", default: "30" },
      rows: { type: "string", default: "2" },
      batch: { type: "string", default: "32" },
    },
  });
  const gpu = await initGpu();
  const { stepMs, kernels } = await profileStep(gpu, {
    workload: values.workload,
    repeats: Number(values.repeats),
    rows: Number(values.rows),
    batch: Number(values.batch),
  });
  const sum = kernels.reduce((a, k) => a + k.msPerStep, 0);
  console.log(`adapter: ${gpu.adapterName}`);
  console.log(
    `${values.workload} (batch ${values.batch}${
      ["forward", "openes"].includes(values.workload!) ? `, ${values.rows} rows` : ""
    }): ${stepMs.toFixed(2)} ms per step; kernels replayed alone sum to ` +
      `${sum.toFixed(2)} ms\n`,
  );
  console.log("| kernel | workgroups | calls/step | ms/call | ms/step |");
  console.log("|---|---|---|---|---|");
  for (const k of kernels) {
    console.log(
      `| ${k.kernel} | ${k.groups} | ${k.callsPerStep} | ${k.msPerCall.toFixed(3)} | ${
        k.msPerStep.toFixed(3)
      } |`,
    );
  }
  gpu.destroy();
}
