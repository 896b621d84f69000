/**
 * Scaling of the distributed evolution strategies (docs/DISTRIBUTED.md): for each population P,
 * the one-process reference (`examples/mnist_distributed.ts --role single`) and a local run with
 * W worker processes through a nats-server started here (loopback, temporary store): median
 * generation time, the coordinator's own time per generation, messages and payload bytes per
 * generation, and the speed-up over one process. Prints a markdown table.
 *
 *     deno run --allow-net --allow-read --allow-write --allow-run bench/distributed.ts \
 *       [--pops 32,128] [--workers 1,2] [--generations 6] [--batch-size 32]
 *
 * On one machine the workers share its CPUs (and, here, Mesa's software adapter), so this
 * measures the protocol's cost, not a speed-up; the document derives what W machines give.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    pops: { type: "string", default: "32,128" },
    workers: { type: "string", default: "1,2" },
    generations: { type: "string", default: "6" },
    "batch-size": { type: "string", default: "32" },
  },
});
const pops = values.pops.split(",").map(Number);
const workerCounts = values.workers.split(",").map(Number);

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const port = (listener.addr as Deno.NetAddr).port;
listener.close();
const store = await Deno.makeTempDir({ prefix: "tz-bench-nats-" });
const server = new Deno.Command("nats-server", {
  args: ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store],
  stdout: "null",
  stderr: "null",
}).spawn();
await new Promise((r) => setTimeout(r, 300));

async function example(args: string[]): Promise<Record<string, number>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-run",
      "examples/mnist_distributed.ts",
      "--nats",
      `127.0.0.1:${port}`,
      "--preset",
      "openes",
      "--generations",
      values.generations,
      "--batch-size",
      values["batch-size"],
      "--test-limit",
      "500",
      "--quiet",
      ...args,
    ],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the example failed: ${args.join(" ")}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines.filter((l) => l.startsWith("{")).at(-1)!);
}

const rows: string[] = [];
try {
  let run = 0;
  for (const pop of pops) {
    const single = await example(["--role", "single", "--pop", String(pop)]);
    rows.push(
      `| ${pop} | 1 process | ${single.medianGenerationMs.toFixed(0)} | — | — | — | 1.00 |`,
    );
    for (const w of workerCounts) {
      const r = await example([
        "--role",
        "local",
        "--workers",
        String(w),
        "--pop",
        String(pop),
        "--run",
        `bench-${Date.now()}-${run++}`,
      ]);
      if (r.checksum !== single.checksum) {
        throw new Error(`P=${pop} W=${w}: checksum ${r.checksum} differs from ${single.checksum}`);
      }
      rows.push(
        `| ${pop} | ${w} worker${w > 1 ? "s" : ""} | ${r.medianGenerationMs.toFixed(0)} | ${
          r.medianCoordinatorMs.toFixed(1)
        } | ${r.messagesPerGeneration} | ${r.bytesPerGeneration.toFixed(0)} | ${
          (single.medianGenerationMs / r.medianGenerationMs).toFixed(2)
        } |`,
      );
    }
  }
} finally {
  server.kill("SIGTERM");
  await server.status;
  await Deno.remove(store, { recursive: true });
}
console.log(
  "| P | processes | generation, ms (median) | coordinator, ms | messages / gen | bytes / gen | speed-up |",
);
console.log("|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
