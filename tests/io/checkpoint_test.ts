// src/io/checkpoint.ts: one-file checkpoints that restore every optimizer exactly, refuse
// damaged files and mismatched models, optimizers, schedulers and configurations, survive a
// failure at any stage of the write, and hold weights PyTorch loads with strict=True.

import {
  CheckpointError,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  loadCheckpointBytes,
  readCheckpoint,
  saveCheckpoint,
  stampChecksum,
} from "../../src/io/checkpoint.ts";
import { Buffer } from "node:buffer";
import { atomicWriteHooks, temporaryPath } from "../../src/io/atomic.ts";
import { decodeSafetensors, encodeSafetensors } from "../../src/io/safetensors.ts";
import { encodeState } from "../../src/io/_state_json.ts";
import { Linear } from "../../src/nn/linear.ts";
import { manualSeed } from "../../src/nn/init.ts";
import { mnistCnn } from "../../src/nn/models.ts";
import { Sequential } from "../../src/nn/sequential.ts";
import { crossEntropy } from "../../src/ops/loss.ts";
import { Adam, AdamW } from "../../src/optim/first_order/adam.ts";
import { ClipUp } from "../../src/optim/first_order/clipup.ts";
import { Lion } from "../../src/optim/first_order/lion.ts";
import { CosineAnnealingLR, ExponentialLR } from "../../src/optim/first_order/lr_scheduler.ts";
import { SGD } from "../../src/optim/first_order/sgd.ts";
import { CMAES } from "../../src/optim/es/cma_es.ts";
import { OpenAIES } from "../../src/optim/es/openai_es.ts";
import { PGPE } from "../../src/optim/es/pgpe.ts";
import { SepCMAES } from "../../src/optim/es/sep_cma_es.ts";
import { SNES } from "../../src/optim/es/snes.ts";
import type { Optimizer } from "../../src/optim/optimizer.ts";
import { GradChain } from "../../src/optim/population/grad_chain.ts";
import { PopulationOptimizer } from "../../src/optim/population/population_optimizer.ts";
import { SwarmOfOptimizers } from "../../src/optim/population/swarm.ts";
import { UpdateToGrad } from "../../src/optim/population/update_to_grad.ts";
import { GridSearch } from "../../src/optim/zeroth_order/grid_search.ts";
import { RandomBestGrad } from "../../src/optim/zeroth_order/random_best_grad.ts";
import { RandomGrad } from "../../src/optim/zeroth_order/random_grad.ts";
import { RandomSearch, RandomShrinkingSearch } from "../../src/optim/zeroth_order/random_search.ts";
import { RandomWalk } from "../../src/optim/zeroth_order/random_walk.ts";
import { SequentialSearch } from "../../src/optim/zeroth_order/sequential_search.ts";
import { SPSA } from "../../src/optim/zeroth_order/spsa.ts";
import type { Parameter } from "../../src/params/flat.ts";
import { tensor } from "../../src/tensor.ts";
import { assert, uniformData } from "../_util.ts";

type Make = (p: Parameter[]) => Optimizer<object>;

const OPTIMIZERS: [string, Make][] = [
  ["AdamW (gradients set by hand)", (p) => new AdamW(p, { lr: 1e-2 })],
  ["RandomGrad + AdamW", (p) => new RandomGrad(p, { magn: 1e-2, seed: 1, opt: new AdamW(p) })],
  [
    "RandomGrad + SGD (momentum, Nesterov)",
    (p) =>
      new RandomGrad(p, {
        magn: 1e-2,
        seed: 2,
        opt: new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true }),
      }),
  ],
  ["RandomGrad + Lion", (p) => new RandomGrad(p, { magn: 1e-2, seed: 3, opt: new Lion(p) })],
  ["RandomGrad + ClipUp", (p) => new RandomGrad(p, { magn: 1e-2, seed: 4, opt: new ClipUp(p) })],
  [
    "RandomBestGrad + Adam",
    (p) => new RandomBestGrad(p, { magn: 1e-2, bestOf: 3, seed: 5, opt: new Adam(p) }),
  ],
  ["SPSA", (p) => new SPSA(p, { lr: 1e-2, magn: 1e-2, n: 2, seed: 6 })],
  ["RandomSearch", (p) => new RandomSearch(p, { candidates: 3, seed: 7 })],
  ["RandomShrinkingSearch", (p) => new RandomShrinkingSearch(p, { lr: 0.5, nsteps: 20, seed: 8 })],
  ["GridSearch", (p) => new GridSearch(p, { domain: [-1, 1], step: 0.5, candidates: 2 })],
  ["SequentialSearch", (p) => new SequentialSearch(p, { lr: 0.1, domain: [-1, 1] })],
  ["RandomWalk (order 2)", (p) => new RandomWalk(p, { lr: 0.05, order: 2, seed: 9 })],
  ["OpenAIES + Adam", (p) => new OpenAIES(p, { popSize: 6, sigma: 0.1, lr: 0.05, seed: 10 })],
  ["PGPE + ClipUp", (p) => new PGPE(p, { popSize: 6, sigma: 0.2, lr: 0.03, seed: 11 })],
  ["SNES", (p) => new SNES(p, { sigma: 0.5, seed: 12 })],
  ["SepCMAES", (p) => new SepCMAES(p, { sigma: 0.5, seed: 13 })],
  ["CMAES", (p) => new CMAES(p, { sigma: 0.5, seed: 14 })],
  [
    "SwarmOfOptimizers of RandomGrad + AdamW",
    (p) =>
      new SwarmOfOptimizers(
        p,
        [0, 1, 2].map((i) => new RandomGrad(p, { magn: 1e-2, seed: 20 + i, opt: new AdamW(p) })),
        { oldSteps: 1, dieAfter: 2, seed: 15 },
      ),
  ],
  [
    "GradChain of RandomWalk and SGD",
    (p) =>
      new GradChain(p, [
        new RandomWalk(p, { lr: 0.05, seed: 16 }),
        new SGD(p, { lr: 0.1, momentum: 0.9 }),
      ]),
  ],
  ["UpdateToGrad of RandomWalk", (p) => new UpdateToGrad(p, new RandomWalk(p, { seed: 17 }))],
];

const X = tensor(uniformData(1, 8 * 4), [8, 4]);
const Y = tensor([0, 1, 2, 0, 1, 2, 0, 1], [8]);

function tiny(seed: number, outputs = 3): Sequential {
  manualSeed(seed);
  return new Sequential(new Linear(4, outputs));
}

async function steps(model: Sequential, opt: Optimizer<object>, n: number): Promise<void> {
  const closure = () => {
    opt.zeroGrad(); // gradients belong to the step, not to the checkpoint (as in torch)
    return crossEntropy(model.forward(X), Y, { reduction: "none" });
  };
  for (let i = 0; i < n; i++) {
    if (opt instanceof PopulationOptimizer) {
      (await opt.stepAsync(closure)).dispose();
    } else {
      model.parameters().forEach((p, k) =>
        model.flat.setGrad(p, Array.from({ length: p.numel }, (_, j) => Math.sin(i + k + j)))
      );
      opt.step();
    }
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const [name, make] of OPTIMIZERS) {
  Deno.test(`saveCheckpoint and loadCheckpoint restore ${name} exactly and continue its trajectory`, async () => {
    await withDir(async (dir) => {
      const path = `${dir}/ckpt.safetensors`;
      const a = tiny(1);
      const optA = make(a.parameters());
      await steps(a, optA, 3);
      await saveCheckpoint(path, { model: a, optimizer: optA, config: { name } });
      const savedState = encodeState(await optA.stateDict());
      await steps(a, optA, 3);

      const b = tiny(2); // another initialisation: everything must come from the file
      const optB = make(b.parameters());
      const info = await loadCheckpoint(path, { model: b, optimizer: optB, config: { name } });
      assert.equal(encodeState(await optB.stateDict()), savedState);
      assert.equal(info.optimizer?.type, optA.constructor.name);
      await steps(b, optB, 3);
      assert.deepEqual([...await b.flat.readRow(0)], [...await a.flat.readRow(0)]);
      for (const o of [optA, optB]) o.dispose();
      a.flat.dispose();
      b.flat.dispose();
    });
  });
}

Deno.test("a checkpoint holds the weights under torch names and its format, library and time", async () => {
  const model = mnistCnn();
  const opt = new RandomGrad(model.parameters(), {
    magn: 1e-3,
    opt: new AdamW(model.parameters()),
  });
  const bytes = await encodeCheckpoint({ model, optimizer: opt, config: { lr: 1e-3 } });
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(
    Object.entries(tensors).map(([n, t]) => [n, t.shape]),
    model.namedParameters().map(([n, p]) => [n, [...p.shape]]),
  );
  assert.equal(metadata.format, "pt");
  assert.equal(metadata["torchzero.checkpoint"], "1");
  assert.match(metadata["torchzero.library"], /^@torchzero\/torchzero \d+\.\d+\.\d+/);
  assert.match(metadata["torchzero.checksum"], /^sha256:[0-9a-f]{64}$/);
  assert.ok(!Number.isNaN(Date.parse(metadata["torchzero.saved_at"])));
  const weights = await model.stateDict();
  for (const [n, t] of Object.entries(tensors)) assert.deepEqual([...t.data], [...weights[n]]);
  opt.dispose();
  model.flat.dispose();
});

const HAS_TORCH = await new Deno.Command("/usr/bin/python3", {
  args: ["-c", "import torch"],
  stdout: "null",
  stderr: "null",
}).output().then((o) => o.success, () => false);

Deno.test({
  name: "PyTorch loads a checkpoint's weights with load_state_dict(strict=True) and agrees",
  ignore: !HAS_TORCH,
  fn: async () => {
    await withDir(async (dir) => {
      const model = mnistCnn();
      const opt = new RandomGrad(model.parameters(), { magn: 1e-3, seed: 1 });
      const path = `${dir}/ckpt.safetensors`;
      await saveCheckpoint(path, { model, optimizer: opt, config: { lr: 1e-3 } });
      const input = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => Math.sin(i) * 0.5);
      const ours = await model.forward(tensor(input, [2, 1, 28, 28])).read();
      const { code, stdout, stderr } = await new Deno.Command("/usr/bin/python3", {
        args: ["tests/io/torch_load_checkpoint.py", path],
      }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      const theirs = JSON.parse(new TextDecoder().decode(stdout)) as number[];
      assert.equal(theirs.length, ours.length);
      theirs.forEach((v, i) =>
        assert.ok(Math.abs(v - ours[i]) < 1e-4, `logit ${i}: ${v} vs ${ours[i]}`)
      );
      opt.dispose();
      model.flat.dispose();
    });
  },
});

Deno.test("loadCheckpoint refuses another model, optimizer, scheduler or configuration and names the difference", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/ckpt.safetensors`;
    const a = tiny(1);
    const p = a.parameters();
    const inner = new AdamW(p, { lr: 1e-3 });
    const opt = new RandomGrad(p, { magn: 1e-2, seed: 1, opt: inner });
    await steps(a, opt, 2);
    const scheduler = new CosineAnnealingLR(inner, { tMax: 10 });
    await saveCheckpoint(path, { model: a, optimizer: opt, scheduler, config: { lr: 1e-3 } });
    const refuse = async (options: Parameters<typeof loadCheckpoint>[1], pattern: RegExp) => {
      await assert.rejects(
        loadCheckpoint(path, options),
        (e: Error) => e instanceof CheckpointError && pattern.test(e.message),
        String(pattern),
      );
    };

    const narrow = tiny(3, 2);
    const before = await narrow.flat.readRow(0);
    await refuse(
      { model: narrow },
      /another model: parameter "0\.weight" is \[3,4\] in the checkpoint, \[2,4\] in the model/,
    );
    assert.deepEqual([...await narrow.flat.readRow(0)], [...before], "the model is unchanged");

    const b = tiny(2);
    const q = b.parameters();
    const spsa = new SPSA(q, { magn: 1e-2 });
    await refuse(
      { model: b, optimizer: spsa },
      /another optimizer: optimizer is RandomGrad in the checkpoint, SPSA here/,
    );
    const adam = new RandomGrad(q, { magn: 1e-2, opt: new Adam(q) });
    await refuse(
      { model: b, optimizer: adam },
      /optimizer\.opt is AdamW in the checkpoint, Adam here/,
    );
    const bare = new RandomGrad(q, { magn: 1e-2 });
    await refuse(
      { model: b, optimizer: bare },
      /optimizer\.opt is AdamW in the checkpoint, absent here/,
    );
    const swarm = new SwarmOfOptimizers(q, [0, 1].map(() => new RandomGrad(q, { magn: 1e-2 })));
    await refuse(
      { model: b, optimizer: swarm },
      /optimizer is RandomGrad in the checkpoint, SwarmOfOptimizers here/,
    );
    const goodInner = new AdamW(q);
    const good = new RandomGrad(q, { magn: 1e-2, opt: goodInner });
    await refuse(
      { model: b, optimizer: good, scheduler: new ExponentialLR(goodInner, { gamma: 0.9 }) },
      /the scheduler is CosineAnnealingLR in the checkpoint, ExponentialLR here/,
    );
    await refuse(
      { model: b, optimizer: good, config: { lr: 2e-3 } },
      /another configuration: lr is 0\.001 in the checkpoint, 0\.002 here/,
    );
    await refuse({ model: b, config: { seed: 1 } }, /seed is absent in the checkpoint, 1 here/);
    // What matches loads.
    await loadCheckpoint(path, {
      model: b,
      optimizer: good,
      scheduler: new CosineAnnealingLR(goodInner, { tMax: 10 }),
      config: { lr: 1e-3 },
    });
    assert.deepEqual([...await b.flat.readRow(0)], [...await a.flat.readRow(0)]);

    const weightsOnly = `${dir}/weights.safetensors`;
    await saveCheckpoint(weightsOnly, { model: a });
    await assert.rejects(
      loadCheckpoint(weightsOnly, { model: b, optimizer: good }),
      /was saved from no optimizer: it holds weights only/,
    );
    for (const o of [opt, spsa, adam, bare, swarm, good]) o.dispose();
    for (const m of [a, b, narrow]) m.flat.dispose();
  });
});

Deno.test("decodeCheckpoint refuses every single flipped bit and every truncation", async () => {
  const a = tiny(1);
  const opt = new RandomGrad(a.parameters(), { magn: 1e-2, opt: new AdamW(a.parameters()) });
  await steps(a, opt, 1);
  const bytes = await encodeCheckpoint({ model: a, optimizer: opt, config: { lr: 1 } });
  await decodeCheckpoint(bytes, "ok"); // the intact file loads
  for (let i = 0; i < bytes.length; i++) {
    const damaged = bytes.slice();
    damaged[i] ^= 1 << (i % 8);
    await assert.rejects(decodeCheckpoint(damaged, "f"), CheckpointError, `byte ${i} flipped`);
  }
  for (const length of [0, 4, 8, 100, bytes.length - 1]) {
    await assert.rejects(decodeCheckpoint(bytes.subarray(0, length), "f"), CheckpointError);
  }
  opt.dispose();
  a.flat.dispose();
});

Deno.test("loadCheckpoint names the problem with a missing, JSON, damaged or newer file", async () => {
  await withDir(async (dir) => {
    const a = tiny(1);
    const path = `${dir}/ckpt.safetensors`;
    await assert.rejects(
      loadCheckpoint(path, { model: a }),
      /ckpt\.safetensors: no such checkpoint file/,
    );
    await assert.rejects(loadCheckpoint(dir, { model: a }), /is a directory, not a checkpoint/);
    await Deno.writeTextFile(path, JSON.stringify({ epochs: [] }));
    await assert.rejects(
      loadCheckpoint(path, { model: a }),
      /not a safetensors file: it starts like a JSON file/,
    );
    const bytes = await encodeCheckpoint({ model: a, config: {} });
    const flipped = bytes.slice();
    flipped[flipped.length - 1] ^= 0x40;
    await Deno.writeFile(path, flipped);
    await assert.rejects(
      loadCheckpoint(path, { model: a }),
      /is damaged and was not loaded: its SHA-256 checksum does not match/,
    );
    // A newer format version, with a valid checksum.
    const { tensors, metadata } = decodeSafetensors(bytes);
    const newer = encodeSafetensors(tensors, {
      ...metadata,
      "torchzero.checkpoint": "2",
      "torchzero.checksum": "sha256:" + "0".repeat(64),
    });
    await Deno.writeFile(path, await stampChecksum(newer));
    await assert.rejects(
      loadCheckpoint(path, { model: a }),
      /has checkpoint format 2.*reads format 1/,
    );
    a.flat.dispose();
  });
});

Deno.test("readCheckpoint returns the config and metadata without loading anything", async () => {
  await withDir(async (dir) => {
    const a = tiny(1);
    const path = `${dir}/ckpt.safetensors`;
    const metadata = {
      epochs: [{ loss: NaN, best: -Infinity }],
      curve: new Float64Array([0.1, -0]),
    };
    await saveCheckpoint(path, { model: a, config: { preset: "x", lr: 1e-3 }, metadata });
    const info = await readCheckpoint(path);
    assert.deepEqual(info.config, { preset: "x", lr: 1e-3 });
    assert.equal(encodeState(info.metadata), encodeState(metadata));
    assert.equal(info.optimizer, null);
    assert.deepEqual(info.parameters, [["0.weight", [3, 4]], ["0.bias", [3]]]);
    a.flat.dispose();
  });
});

Deno.test("loadCheckpoint takes the weights of a plain safetensors file, such as PyTorch writes", async () => {
  await withDir(async (dir) => {
    const a = tiny(1);
    const path = `${dir}/torch.safetensors`;
    const weights = Float32Array.from({ length: 12 }, (_, i) => i / 10);
    await Deno.writeFile(
      path,
      encodeSafetensors({
        "0.weight": { shape: [3, 4], data: weights },
        "0.bias": { shape: [3], data: new Float32Array([1, 2, 3]) },
      }, { format: "pt" }),
    );
    await loadCheckpoint(path, { model: a });
    assert.deepEqual([...(await a.stateDict())["0.weight"]], [...weights]);
    const opt = new RandomGrad(a.parameters(), { magn: 1e-2 });
    await assert.rejects(
      loadCheckpoint(path, { model: a, optimizer: opt }),
      /a safetensors file of weights, not a torchzero checkpoint/,
    );
    opt.dispose();
    a.flat.dispose();
  });
});

Deno.test("a save that fails at any stage of its write leaves the previous checkpoint loadable", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/ckpt.safetensors`;
    const a = tiny(1);
    const opt = new RandomGrad(a.parameters(), { magn: 1e-2, opt: new AdamW(a.parameters()) });
    await steps(a, opt, 1);
    await saveCheckpoint(path, { model: a, optimizer: opt, metadata: { epoch: 1 } });
    await steps(a, opt, 1);
    for (const stage of ["open", "write 0", "sync", "close"]) {
      atomicWriteHooks.stage = (s) => {
        if (s === stage) throw new Error(`simulated failure at ${s} (no space left on device)`);
      };
      try {
        await assert.rejects(
          saveCheckpoint(path, { model: a, optimizer: opt, metadata: { epoch: 2 } }),
          /simulated failure/,
        );
      } finally {
        atomicWriteHooks.stage = null;
      }
      assert.deepEqual((await readCheckpoint(path)).metadata, { epoch: 1 }, stage);
      await assert.rejects(Deno.stat(temporaryPath(path)), Deno.errors.NotFound, stage);
    }
    await saveCheckpoint(path, { model: a, optimizer: opt, metadata: { epoch: 2 } });
    assert.deepEqual((await readCheckpoint(path)).metadata, { epoch: 2 });
    opt.dispose();
    a.flat.dispose();
  });
});

Deno.test("loadCheckpointBytes restores what encodeCheckpoint made, and names the bytes when damaged", async () => {
  const a = tiny(1);
  const optA = new OpenAIES(a.parameters(), { popSize: 6, sigma: 0.1, lr: 0.05, seed: 10 });
  await steps(a, optA, 2);
  const bytes = await encodeCheckpoint({ model: a, optimizer: optA, metadata: { generation: 2 } });
  const b = tiny(2);
  const optB = new OpenAIES(b.parameters(), { popSize: 6, sigma: 0.1, lr: 0.05, seed: 10 });
  // As npm packages hand bytes over: a Node Buffer in a shared pool, whose slice() is a view.
  const pooled = Buffer.from(new ArrayBuffer(bytes.length + 3), 3, bytes.length);
  pooled.set(bytes);
  const info = await loadCheckpointBytes(pooled, { model: b, optimizer: optB }, "snapshot gen-2");
  assert.deepEqual(info.metadata, { generation: 2 });
  await steps(a, optA, 2);
  await steps(b, optB, 2);
  assert.deepEqual([...await b.flat.readRow(0)], [...await a.flat.readRow(0)]);
  const damaged = bytes.slice();
  damaged[damaged.length - 1] ^= 1;
  await assert.rejects(
    () => loadCheckpointBytes(damaged, { model: b }, "snapshot gen-2"),
    (e: unknown) =>
      e instanceof CheckpointError && e.path === "snapshot gen-2" &&
      /snapshot gen-2 is damaged .*checksum/.test(e.message),
  );
  for (const o of [optA, optB]) o.dispose();
  a.flat.dispose();
  b.flat.dispose();
});
