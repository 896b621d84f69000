// examples/mnist.ts: the command line, a short training run, and checkpoints that resume to
// exactly the weights of an uninterrupted run.

import {
  ES_DEFAULTS,
  loadMnist,
  makeOptimizer,
  train,
  type TrainConfig,
} from "../../examples/_train.ts";
import { OpenAIES } from "../../src/optim/es/openai_es.ts";
import { PGPE } from "../../src/optim/es/pgpe.ts";
import { SepCMAES } from "../../src/optim/es/sep_cma_es.ts";
import { SNES } from "../../src/optim/es/snes.ts";
import { mnistCnn } from "../../src/nn/models.ts";
import { SwarmOfOptimizers } from "../../src/optim/population/swarm.ts";
import { parseConfig, UsageError } from "../../examples/mnist.ts";
import { decodeSafetensors } from "../../src/io/safetensors.ts";
import { assert, gpu } from "../_util.ts";

const splits = await loadMnist();

function config(overrides: Partial<TrainConfig> = {}): TrainConfig {
  return {
    preset: "randomgrad",
    epochs: 1,
    batchSize: 32,
    lr: 1e-3,
    magn: 1e-5,
    swarmSize: 3,
    seed: 3,
    faithful: false,
    limit: 40,
    testLimit: 500,
    ...overrides,
  };
}

Deno.test("examples/mnist.ts --help prints the options and exits 0", async () => {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "examples/mnist.ts", "--help"],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0);
  for (
    const flag of [
      "--preset",
      "--epochs",
      "--faithful",
      "--save",
      "--resume",
      "--json",
      "--limit",
      "--data",
    ]
  ) {
    assert.ok(text.includes(flag), flag);
  }
  // The evolution strategies' defaults as the help states them are the ones the presets use.
  const flat = text.replace(/\s+/g, " ");
  for (const [preset, { pop, sigma }] of Object.entries(ES_DEFAULTS)) {
    assert.ok(flat.includes(`${preset} ${pop}`), `--help: ${preset}'s population ${pop}`);
    assert.ok(flat.includes(`${preset} ${sigma}`), `--help: ${preset}'s sigma ${sigma}`);
  }
});

Deno.test("the command line rejects unknown presets and bad numbers", () => {
  assert.equal(parseConfig([]).config.preset, "randomgrad");
  assert.equal(parseConfig(["--preset", "spsa"]).config.magn, 1e-3);
  assert.throws(() => parseConfig(["--magn", "0"]), UsageError);
  assert.throws(() => parseConfig(["--preset", "lbfgs"]), /--preset must be one of/);
  assert.throws(() => parseConfig(["--epochs", "two"]), /--epochs must be/);
  assert.throws(() => parseConfig(["--bogus"]));
});

Deno.test("--faithful keeps the original swarm's respawn rule; the default resets respawned members", () => {
  for (const [faithful, rule] of [[true, "original"], [false, "reset"]] as const) {
    const model = mnistCnn({ softmaxHead: faithful });
    const { opt } = makeOptimizer(model, config({ preset: "swarm", faithful }));
    assert.ok(opt instanceof SwarmOfOptimizers);
    assert.equal(opt.respawn, rule);
    opt.dispose();
    model.flat.dispose();
  }
});

Deno.test("a short MNIST run improves the test loss", async () => {
  const { result, model } = await train(gpu, splits, config({ limit: 200, lr: 3e-3, magn: 1e-3 }));
  const [before, after] = result.epochs;
  assert.ok(after.testLoss < before.testLoss - 0.01, `${before.testLoss} -> ${after.testLoss}`);
  assert.equal(result.parameters, 15738);
  assert.equal(result.forwardPasses, 400);
  model.flat.dispose();
});

Deno.test("the backpropagation presets: defaults, rows per step, and the flags they take", () => {
  assert.equal(parseConfig(["--preset", "sgd"]).config.lr, 1e-2);
  assert.equal(parseConfig(["--preset", "adam"]).config.lr, 1e-3);
  assert.equal(parseConfig(["--preset", "swarm-sgd", "--swarm-size", "4"]).config.swarmSize, 4);
  assert.throws(() => parseConfig(["--preset", "sgd", "--magn", "1e-3"]), /--magn is used by/);
  assert.throws(
    () => parseConfig(["--preset", "adam", "--swarm-size", "3"]),
    /--swarm-size is used by the swarm presets/,
  );
  // --budget counts one row per step for sgd/adam, one per member for swarm-sgd.
  assert.equal(parseConfig(["--preset", "sgd", "--budget", "3200"]).config.steps, 100);
  assert.equal(
    parseConfig(["--preset", "swarm-sgd", "--swarm-size", "5", "--budget", "3200"]).config.steps,
    20,
  );
  const model = mnistCnn();
  const { opt, rowsPerStep } = makeOptimizer(model, config({ preset: "swarm-sgd", lr: 1e-2 }));
  assert.ok(opt instanceof SwarmOfOptimizers && opt.gradientBased);
  assert.equal(rowsPerStep, 3);
  opt.dispose();
  model.flat.dispose();
});

for (const preset of ["sgd", "adam", "swarm-sgd"] as const) {
  Deno.test(`a short ${preset} run (backpropagation) learns far more than a derivative-free one`, async () => {
    const lr = preset === "adam" ? 1e-3 : 1e-2;
    const c = config({ preset, lr, limit: 40, swarmSize: 2 });
    const { result, model } = await train(gpu, splits, c);
    const [before, after] = result.epochs;
    assert.ok(after.testAccuracy > 0.5, `${before.testAccuracy} -> ${after.testAccuracy}`);
    assert.equal(result.forwardPasses, 40 * (preset === "swarm-sgd" ? 2 : 1));
    model.flat.dispose();
  });
}

const ES_CLASSES = { openes: OpenAIES, pgpe: PGPE, snes: SNES, sepcma: SepCMAES } as const;

for (const preset of ["openes", "pgpe", "snes", "sepcma"] as const) {
  Deno.test(`a short ${preset} run: its strategy, P × B × generations image-forwards, its loss`, async () => {
    // The preset's settings; openes with 32 rows instead of 128 to keep the test short.
    const pop = preset === "openes" ? 32 : ES_DEFAULTS[preset].pop;
    const c = config({ preset, ...ES_DEFAULTS[preset], pop, batchSize: 32, limit: 60 });
    const model = mnistCnn();
    const built = makeOptimizer(model, c);
    assert.ok(built.opt instanceof ES_CLASSES[preset], built.opt.constructor.name);
    assert.equal(built.rowsPerStep, pop);
    built.opt.dispose();
    model.flat.dispose();
    const { result, model: trained } = await train(gpu, splits, c, {}, { curveEvery: 10 });
    assert.equal(result.imageForwards, pop * 32 * 60);
    const loss = result.curve!.loss;
    assert.equal(loss.length, 6);
    const text = `train loss per 10 generations: ${loss.map((v) => v.toFixed(3))}`;
    if (preset === "sepcma") {
      // CMA's mean moves slowly at first (σ 0.065 over 15,738 weights): no fall yet after 60
      // generations, but no drift upwards either (with 8 rows it climbs tenfold).
      assert.ok(loss[5] < 1.1 * loss[0], text);
    } else {
      assert.ok(loss[5] < loss[0], text);
    }
    trained.flat.dispose();
  });
}

for (const preset of ["randomgrad", "swarm", "sgd", "swarm-sgd"] as const) {
  Deno.test(`a ${preset} run resumed from a checkpoint ends with the weights of an uninterrupted run`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const c = config({ preset, epochs: 2, limit: 12, testLimit: 100 });
      const straight = await train(gpu, splits, c);
      const expected = await straight.model.flat.readRow(0);

      const path = `${dir}/ckpt.safetensors`;
      const first = await train(gpu, splits, { ...c, epochs: 1 }, {}, { save: path });
      first.model.flat.dispose();
      const resumed = await train(gpu, splits, c, {}, { resume: path });
      assert.deepEqual([...await resumed.model.flat.readRow(0)], [...expected]);
      assert.equal(resumed.result.epochs.length, 3);
      assert.deepEqual(resumed.result.curve, straight.result.curve);
      assert.deepEqual(
        resumed.result.epochs.map((e) => [e.testAccuracy, e.testLoss, e.trainLossMean]),
        straight.result.epochs.map((e) => [e.testAccuracy, e.testLoss, e.trainLossMean]),
      );
      resumed.model.flat.dispose();
      straight.model.flat.dispose();
      // One file: weights under torch names beside the optimizer state, nothing else written.
      const { tensors } = decodeSafetensors(await Deno.readFile(path));
      assert.deepEqual(Object.keys(tensors), straight.model.namedParameters().map(([n]) => n));
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["ckpt.safetensors"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
