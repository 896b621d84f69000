import assert from "node:assert/strict";
import {
  LP_NUM_THREADS,
  planSoftwareThreads,
  THREADS_PER_CPU,
} from "../../src/gpu/software_threads.ts";

const env = (mayWrite: boolean, current?: string, cpus = 2) => ({ mayWrite, current, cpus });

Deno.test("planSoftwareThreads: auto is twice the CPUs when unset and writable", () => {
  assert.equal(THREADS_PER_CPU, 2);
  assert.equal(planSoftwareThreads("auto", env(true)), 4);
  assert.equal(planSoftwareThreads(undefined, env(true, undefined, 16)), 32);
  assert.equal(planSoftwareThreads("auto", env(true, undefined, 0)), 2); // unknown CPU count
});

Deno.test("planSoftwareThreads: auto leaves a user's value and an unwritable variable alone", () => {
  assert.equal(planSoftwareThreads("auto", env(true, "3")), undefined);
  assert.equal(planSoftwareThreads("auto", env(false)), undefined);
  assert.equal(planSoftwareThreads(undefined, env(false, "3")), undefined);
});

Deno.test("planSoftwareThreads: a count always applies, and needs the permission", () => {
  assert.equal(planSoftwareThreads(3, env(true)), 3);
  assert.equal(planSoftwareThreads(1, env(true, "8")), 1); // the option wins over the shell
  assert.throws(
    () => planSoftwareThreads(3, env(false)),
    (e: Error) => e.message.includes(`--allow-env=${LP_NUM_THREADS}`),
  );
  for (const bad of [0, -1, 1.5, NaN, 1025]) {
    assert.throws(() => planSoftwareThreads(bad, env(true)), RangeError, String(bad));
  }
});

/**
 * Runs the fixture in a fresh process (Mesa reads the variable once per process) with all
 * permissions (Deno lets only those read /proc, where the fixture counts llvmpipe's threads),
 * just `--allow-env=LP_NUM_THREADS`, or none.
 */
async function child(mode: string, permissions: "all" | "env" | "none") {
  const args = ["run"];
  if (permissions === "all") args.push("--allow-all");
  if (permissions === "env") args.push(`--allow-env=${LP_NUM_THREADS}`);
  args.push(new URL("./fixtures/software_threads_child.ts", import.meta.url).pathname, mode);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(stdout).trim();
  assert.equal(code, 0, `${mode}: ${new TextDecoder().decode(stderr)}`);
  return JSON.parse(text.split("\n").at(-1)!) as Record<string, unknown>;
}

/** True when the child ran on Mesa's llvmpipe and /proc showed its threads (Linux). */
const seesLlvmpipe = (r: Record<string, unknown>) =>
  String(r.adapter).includes("llvmpipe") && r.llvmpipeThreads !== null;

Deno.test("softwareThreads fixture: on Linux with llvmpipe, the thread count is seen", async () => {
  // Guards the checks below against passing because the count could not be read.
  const r = await child("auto", "all");
  if (Deno.build.os === "linux" && String(r.adapter).includes("llvmpipe")) {
    assert.equal(typeof r.llvmpipeThreads, "number");
  }
});

Deno.test("softwareThreads: a count is what llvmpipe runs; later requests cannot change it", async () => {
  const r = await child("count", "all");
  assert.deepEqual(r.errors, [
    `Error: Gpu.create: softwareThreads 5 comes too late: Mesa read ${LP_NUM_THREADS} when this ` +
    `process requested its first adapter (3); pass it to the first initGpu() or Gpu.create()`,
    `RangeError: Gpu.create: softwareThreads must be "auto" or an integer from 1 to 1024, ` +
    `received 0`,
  ]);
  assert.equal(r.softwareThreads, 3);
  assert.equal(r.env, "3");
  assert.deepEqual(r.later, [3, 3, true, true]);
  if (seesLlvmpipe(r)) assert.equal(r.llvmpipeThreads, 3);
  // A software adapter's name says how many threads it runs.
  if (r.fallback === true) assert.match(r.adapterName as string, /, 3 threads\]$/);
});

Deno.test("softwareThreads: auto sets twice the CPUs when permitted", async () => {
  const r = await child("auto", "all");
  assert.deepEqual(r.errors, []);
  const expected = THREADS_PER_CPU * (r.cpus as number);
  assert.equal(r.softwareThreads, expected);
  assert.equal(r.env, String(expected));
  if (seesLlvmpipe(r)) {
    const seen = r.llvmpipeThreads as number;
    // Mesa caps the count (32 in Mesa 22); below the cap it runs exactly what was asked.
    if (expected <= 32) assert.equal(seen, expected);
    else assert.ok(seen >= 32 && seen <= expected, `${seen} threads for ${expected}`);
  }
});

Deno.test("softwareThreads: auto keeps the user's LP_NUM_THREADS", async () => {
  const r = await child("user-set", "env"); // the narrow permission is enough
  assert.deepEqual(r.errors, []);
  assert.equal(r.softwareThreads, 1);
  assert.equal(r.env, "1");
});

Deno.test("softwareThreads: without --allow-env auto changes nothing and a count is refused", async () => {
  const auto = await child("auto", "none");
  assert.deepEqual(auto.errors, []);
  assert.equal(auto.softwareThreads, null);
  assert.ok(!String(auto.adapterName).includes("threads"), String(auto.adapterName));
  assert.equal(auto.env, "unreadable");
  const count = await child("count-denied", "none");
  assert.equal(count.softwareThreads, null);
  assert.equal((count.errors as string[]).length, 1);
  assert.match(
    (count.errors as string[])[0],
    /^Error: Gpu.create: softwareThreads 3 sets LP_NUM_THREADS/,
  );
});
