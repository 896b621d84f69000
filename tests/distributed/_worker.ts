// A worker process of the NATS tests:
//   deno run --allow-net=127.0.0.1 --allow-read tests/distributed/_worker.ts URL RUN STRATEGY NAME [flags]
// flags: --delay MS (sleep in each shard's evaluation), --hold GEN (take a shard of generation
// GEN, print HOLDING and never answer: the test kills it), --duplicate (publish every result
// again with wrong losses, past the server's dedupe: the coordinator must ignore it).
// Prints one JSON line with its WorkerResult at the end.

import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { runWorker } from "../../src/distributed/worker.ts";
import { encodeJson } from "../../src/distributed/run.ts";
import { connectTo } from "./_nats.ts";
import { testJob } from "./_job.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    delay: { type: "string", default: "0" },
    hold: { type: "string", default: "-1" },
    duplicate: { type: "boolean", default: false },
  },
});
const [url, run, strategy, name] = positionals;
const nc = await connectTo(url);
const job = await testJob(strategy);
const delay = Number(values.delay);
const hold = Number(values.hold);
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const loss = job.loss;
const slowed = {
  ...job,
  loss(generation: number) {
    if (generation === hold) {
      console.log("HOLDING");
      for (;;) Atomics.wait(sleeper, 0, 0, 1000); // until the test kills this process
    }
    if (delay > 0) Atomics.wait(sleeper, 0, 0, delay);
    return loss(generation);
  },
};
const js = jetstream(nc);
const result = await runWorker(nc, slowed, {
  run,
  name,
  onShard: (r) => {
    if (!values.duplicate) return;
    const wrong = { ...r, losses: r.losses!.map(() => 1e30) };
    void js.publish(`tz.${run}.result.${r.generation}`, encodeJson(wrong));
  },
});
console.log(JSON.stringify(result));
await nc.close();
