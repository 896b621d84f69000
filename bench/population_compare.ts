/**
 * Population forward throughput side by side: bench/population_forward.ts (ours), optionally
 * the same script in another checkout (`--baseline DIR`, e.g. the previous commit exported with
 * `git archive HEAD | tar -x -C DIR`), and bench/torch_population.py (PyTorch batched over the
 * population), run in alternation for several rounds on the same machine. Prints image-forwards
 * per second (P × B images per forward) per case, with ours / baseline and ours / PyTorch as
 * min, median and max over the rounds.
 *
 *     deno run --allow-run --allow-read --allow-env bench/population_compare.ts [--rounds 3]
 *       [--cases 1x32,64x32,256x32] [--baseline /tmp/base] [--python /usr/bin/python3]
 *       [--torch-methods grouped,vmap,loop]
 *
 * PyTorch's figure per case is its fastest batched method (grouped or vmapped convolutions over
 * all P rows); its per-row loop is printed beside it for reference. PyTorch is Debian's
 * `python3-torch` (2 threads); ours runs with `initGpu`'s default thread count.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./_timing.ts";
import { DEFAULT_CASES } from "./population_forward.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    cases: { type: "string", default: DEFAULT_CASES.join(",") },
    baseline: { type: "string" },
    python: { type: "string", default: "/usr/bin/python3" },
    "torch-methods": { type: "string", default: "grouped,vmap,loop" },
    ms: { type: "string", default: "500" },
    "inner-rounds": { type: "string", default: "3" },
  },
});

type Result = {
  adapter: string;
  image_forwards_per_s: Record<string, number | null>;
  method?: Record<string, string | null>;
  methods?: Record<string, Record<string, { image_forwards_per_s: number }>>;
  errors: Record<string, string>;
};

async function run(cmd: string, args: string[], cwd?: string): Promise<Result> {
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    cwd,
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(stdout).trim().split("\n").at(-1) ?? "";
  if (code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${new TextDecoder().decode(stderr)}`);
  }
  return JSON.parse(text);
}

const common = ["--cases", values.cases, "--rounds", values["inner-rounds"], "--ms", values.ms];
const deno = (cwd?: string) =>
  run(Deno.execPath(), [
    "run",
    "--allow-env=LP_NUM_THREADS",
    "bench/population_forward.ts",
    ...common,
  ], cwd);
const ours: Result[] = [], base: Result[] = [], torch: Result[] = [];
const rounds = Number(values.rounds);
for (let r = 0; r < rounds; r++) {
  ours.push(await deno());
  if (values.baseline !== undefined) base.push(await deno(values.baseline));
  torch.push(
    await run(values.python, [
      "bench/torch_population.py",
      ...common,
      "--methods",
      values["torch-methods"],
    ]),
  );
  console.error(`round ${r + 1}/${rounds} done`);
}

const rate = (res: Result, c: string) => res.image_forwards_per_s[c] ?? NaN;
const loopRate = (res: Result, c: string) => res.methods?.loop?.[c]?.image_forwards_per_s ?? NaN;
const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : "fails");
const ratios = (a: number[], b: number[]) => {
  const r = a.map((v, i) => v / b[i]).filter(Number.isFinite);
  if (r.length === 0) return "—";
  return `${Math.min(...r).toFixed(2)} / ${median(r).toFixed(2)} / ${Math.max(...r).toFixed(2)}`;
};
const med = (v: number[]) => {
  const f = v.filter(Number.isFinite);
  return f.length === 0 ? NaN : median(f);
};

console.log(`ours:     ${ours[0].adapter}`);
if (base.length > 0) console.log(`baseline: ${values.baseline}`);
console.log(`PyTorch:  ${torch[0].adapter}`);
console.log(`rounds: ${rounds}, ${new Date().toISOString()}\n`);
const baseCols = base.length > 0 ? " baseline | ours / baseline min / med / max |" : "";
console.log(
  `| P×B | ours, images/s |${baseCols} PyTorch batched (method) | ours / PyTorch min / med / max | PyTorch per-row loop |`,
);
console.log(`|---|---|${base.length > 0 ? "---|---|" : ""}---|---|---|`);
for (const c of values.cases.split(",")) {
  const o = ours.map((res) => rate(res, c));
  const t = torch.map((res) => rate(res, c));
  const b = base.map((res) => rate(res, c));
  const method = torch.map((res) => res.method?.[c]).find((m) => m) ?? "—";
  const baseText = base.length > 0 ? ` ${fmt(med(b))} | ${ratios(o, b)} |` : "";
  console.log(
    `| ${c} | ${fmt(med(o))} |${baseText} ${fmt(med(t))} (${method}) | ${ratios(o, t)} | ${
      fmt(med(torch.map((res) => loopRate(res, c))))
    } |`,
  );
}
for (const [name, list] of [["ours", ours], ["baseline", base], ["PyTorch", torch]] as const) {
  const errors = Object.entries(list[0]?.errors ?? {});
  for (const [c, e] of errors) console.log(`\n${name} ${c}: ${e.split("\n")[0]}`);
}
