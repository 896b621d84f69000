// src/distributed/replica.ts: evaluating a generation in shards of any size gives the same
// losses, bit for bit, as evaluating all P candidates at once, so a distributed run matches
// the single-process one; snapshots restore a replica mid-run exactly.

import { Replica, runLocal } from "../../src/distributed/replica.ts";
import { assert } from "../_util.ts";
import { STRATEGIES, testJob } from "./_job.ts";

const GENERATIONS = 4;

/** Runs the generations with the candidates split into shards of the given sizes. */
async function sharded(replica: Replica, sizes: number[]): Promise<string[]> {
  const sums: string[] = [];
  for (let g = 0; g < GENERATIONS; g++) {
    const p = await replica.popSize();
    const losses = new Float32Array(p);
    let first = 0;
    // Out of order, as workers return them.
    const shards: [number, number][] = [];
    for (let k = 0; first < p; k++) {
      const count = Math.min(sizes[k % sizes.length], p - first);
      shards.push([first, count]);
      first += count;
    }
    for (const [f, c] of shards.reverse()) losses.set(await replica.evaluate(f, c), f);
    await replica.apply(losses);
    sums.push(await replica.checksum());
  }
  return sums;
}

for (const name of [...Object.keys(STRATEGIES), "openai-lr"]) {
  Deno.test(`${name}: sharded evaluation is bit-identical to evaluating all candidates at once`, async () => {
    const reference = await runLocal(new Replica(await testJob(name)), GENERATIONS);
    assert.equal(new Set(reference).size, GENERATIONS, "the parameters move every generation");
    for (const sizes of [[1], [3], [5, 2]]) {
      assert.deepEqual(
        await sharded(new Replica(await testJob(name)), sizes),
        reference,
        `shards ${sizes}`,
      );
    }
  });
}

Deno.test("a replica restored from a snapshot continues the same trajectory, lr schedule included", async () => {
  const a = new Replica(await testJob("openai-lr"));
  const reference = await runLocal(a, 2);
  const bytes = await a.snapshot();
  reference.push(...await runLocal(a, 2));
  const b = new Replica(await testJob("openai-lr"));
  await b.restore(bytes, "gen-2");
  assert.equal(b.generation, 2);
  assert.deepEqual(await runLocal(b, 2), reference.slice(2));
});

Deno.test("Replica refuses a shard outside the population and the wrong number of losses", async () => {
  const r = new Replica(await testJob("openai"));
  await assert.rejects(
    () => r.evaluate(10, 3),
    /shard \[10, 13\) is not inside the 12 candidates of generation 0/,
  );
  await assert.rejects(() => r.apply([1, 2]), /generation 0 has 12 candidates, received 2 losses/);
});
