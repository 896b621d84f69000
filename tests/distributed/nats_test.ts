// src/distributed over a real nats-server on loopback, with worker processes: W = 1, 2, 4
// workers give parameters bit-identical to the single-process run; so do a worker killed with
// SIGKILL while it holds a shard, a worker joining mid-run, duplicated results, a coordinator
// restarted mid-run and a NATS server killed and restarted mid-run; and a headless Chromium tab
// as the only worker (WebGPU on SwiftShader, NATS over WebSocket).
// Skipped, saying so, only when nats-server is not installed.

import { runCoordinator } from "../../src/distributed/coordinator.ts";
import { Replica, runLocal } from "../../src/distributed/replica.ts";
import type { WorkerResult } from "../../src/distributed/worker.ts";
import { assert } from "../_util.ts";
import { testJob } from "./_job.ts";
import { connectTo, NatsServer } from "./_nats.ts";

const server = await NatsServer.start();
const ignore = server === null;
if (ignore) console.warn("tests/distributed/nats_test.ts: skipped, nats-server is not installed");
const reference = new Map<string, string[]>();

/** The single-process fingerprints of `generations` generations of `strategy`. */
async function expected(strategy: string, generations: number): Promise<string[]> {
  const key = `${strategy}/${generations}`;
  if (!reference.has(key)) {
    reference.set(key, await runLocal(new Replica(await testJob(strategy)), generations));
  }
  return reference.get(key)!;
}

/** A worker process; `lines` yields its stdout lines. */
function spawnWorker(run: string, strategy: string, name: string, flags: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-read",
      "tests/distributed/_worker.ts",
      server!.url,
      run,
      strategy,
      name,
      ...flags,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TransformStream<string, string>(
      {
        buffer: "",
        transform(chunk, out) {
          const parts = (this.buffer + chunk).split("\n");
          this.buffer = parts.pop()!;
          for (const p of parts) out.enqueue(p);
        },
      } as Transformer<string, string> & { buffer: string },
    ),
  );
  const reader = lines.getReader();
  const next = async () => (await reader.read()).value;
  const result = async (): Promise<WorkerResult> => {
    let last: string | undefined;
    for (let line = await next(); line !== undefined; line = await next()) last = line;
    const status = await child.status;
    assert.equal(status.code, 0, `worker ${name} exited with ${status.code}`);
    return JSON.parse(last!);
  };
  return { child, next, result };
}

let runs = 0;
const runName = (what: string) => `${what}-${Date.now().toString(36)}-${runs++}`;

for (const workers of [1, 2, 4]) {
  Deno.test({
    name: `${workers} worker process(es) give parameters bit-identical to one process`,
    ignore,
    async fn() {
      const run = runName(`w${workers}`);
      const generations = 4;
      const procs = Array.from({ length: workers }, (_, i) => spawnWorker(run, "openai", `w${i}`));
      const nc = await connectTo(server!.url);
      const { checksums } = await runCoordinator(nc, await testJob("openai"), {
        run,
        generations,
        shardSize: 2,
        resultTimeoutMs: 30_000,
        onGeneration: (s) => assert.equal(s.shards, 6),
      });
      assert.deepEqual(checksums, await expected("openai", generations));
      for (const p of procs) {
        const r = await p.result();
        assert.equal(r.checksum, checksums.at(-1));
        assert.equal(r.generations, generations);
      }
      await nc.close();
    },
  });
}

Deno.test({
  name: "CMA-ES (host ranking) over 2 workers matches one process too",
  ignore,
  async fn() {
    const run = runName("cma");
    const procs = [0, 1].map((i) => spawnWorker(run, "cma", `c${i}`));
    const nc = await connectTo(server!.url);
    const { checksums } = await runCoordinator(nc, await testJob("cma"), {
      run,
      generations: 3,
      shardSize: 3,
      resultTimeoutMs: 30_000,
    });
    assert.deepEqual(checksums, await expected("cma", 3));
    for (const p of procs) assert.equal((await p.result()).checksum, checksums.at(-1));
    await nc.close();
  },
});

Deno.test({
  name: "a worker killed with SIGKILL while holding a shard: the shard is redone, same parameters",
  ignore,
  async fn() {
    const run = runName("kill");
    const victim = spawnWorker(run, "openai", "victim", ["--hold", "2"]);
    const survivor = spawnWorker(run, "openai", "survivor", ["--delay", "20"]);
    const nc = await connectTo(server!.url);
    let killedAt = -1;
    const killed = (async () => {
      assert.equal(await victim.next(), "HOLDING");
      victim.child.kill("SIGKILL");
      killedAt = (await victim.child.status).signal === "SIGKILL" ? 2 : -2;
    })();
    const { checksums } = await runCoordinator(nc, await testJob("openai"), {
      run,
      generations: 4,
      shardSize: 2,
      resultTimeoutMs: 30_000,
      ackWaitMs: 1500,
    });
    await killed;
    assert.equal(killedAt, 2, "the victim took a shard of generation 2 and was killed");
    assert.deepEqual(checksums, await expected("openai", 4));
    assert.equal((await survivor.result()).checksum, checksums.at(-1));
    await victim.child.stdout.cancel().catch(() => undefined);
    await nc.close();
  },
});

Deno.test({
  name:
    "a worker joining mid-run starts from a snapshot (lr schedule included), catches up, ends identical",
  ignore,
  async fn() {
    const run = runName("join");
    const first = spawnWorker(run, "openai-lr", "early", ["--delay", "60"]);
    let late: ReturnType<typeof spawnWorker> | null = null;
    const nc = await connectTo(server!.url);
    const { checksums } = await runCoordinator(nc, await testJob("openai-lr"), {
      run,
      generations: 10,
      shardSize: 3,
      resultTimeoutMs: 30_000,
      snapshotEvery: 2,
      onGeneration: (s) => {
        if (s.generation === 1) late = spawnWorker(run, "openai-lr", "late");
      },
    });
    assert.deepEqual(checksums, await expected("openai-lr", 10));
    assert.equal((await first.result()).checksum, checksums.at(-1));
    const joined = await late!.result();
    assert.equal(joined.checksum, checksums.at(-1));
    assert.ok(joined.joinedAt >= 2, `the late worker started from snapshot gen-${joined.joinedAt}`);
    assert.ok(joined.shards > 0, "the late worker evaluated shards after catching up");
    await nc.close();
  },
});

Deno.test({
  name: "duplicated results are ignored; a restarted coordinator resumes from the last record",
  ignore,
  async fn() {
    const run = runName("resume");
    const worker = spawnWorker(run, "snes", "dup", ["--duplicate", "--delay", "20"]);
    const nc = await connectTo(server!.url);
    const stop = new AbortController();
    let duplicates = 0;
    const before: string[] = [];
    const crashing = await testJob("snes");
    await assert.rejects(() =>
      runCoordinator(nc, crashing, {
        run,
        generations: 6,
        shardSize: 2,
        resultTimeoutMs: 30_000,
        snapshotEvery: 2,
        signal: stop.signal,
        onGeneration: (s) => {
          duplicates += s.duplicates;
          before.push(s.checksum);
          if (s.generation === 2) stop.abort(new Error("coordinator crash"));
        },
      }), /coordinator crash/);
    // A new coordinator, a new replica: everything comes from JetStream.
    const { checksums, resumedAt } = await runCoordinator(nc, await testJob("snes"), {
      run,
      generations: 6,
      shardSize: 2,
      resultTimeoutMs: 30_000,
      snapshotEvery: 2,
      onGeneration: (s) => (duplicates += s.duplicates),
    });
    assert.equal(resumedAt, 3);
    assert.deepEqual([...before, ...checksums], await expected("snes", 6));
    assert.ok(duplicates > 0, "the worker's duplicates reached the coordinator");
    assert.equal((await worker.result()).checksum, checksums.at(-1));
    await nc.close();
  },
});

Deno.test({
  name: "a NATS server killed and restarted mid-run: the run goes on, same parameters",
  ignore,
  async fn() {
    const run = runName("restart");
    const worker = spawnWorker(run, "openai", "steady", ["--delay", "30"]);
    const nc = await connectTo(server!.url);
    let restarted: Promise<void> | null = null;
    const { checksums } = await runCoordinator(nc, await testJob("openai"), {
      run,
      generations: 6,
      shardSize: 4,
      resultTimeoutMs: 30_000,
      onGeneration: (s) => {
        if (s.generation === 2) {
          restarted = (async () => {
            await server!.kill();
            await new Promise((r) => setTimeout(r, 300));
            await server!.restart();
          })();
        }
      },
    });
    await restarted;
    assert.deepEqual(checksums, await expected("openai", 6));
    assert.equal((await worker.result()).checksum, checksums.at(-1));
    await nc.close();
  },
});

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!ignore && !hasChromium) {
  console.warn("tests/distributed/nats_test.ts: browser test skipped, no /usr/bin/chromium");
}

Deno.test({
  name: "a headless Chromium tab (WebGPU, WebSocket) as the only worker: same parameters",
  ignore: ignore || !hasChromium,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tz-browser-" });
    const chrome: { child: Deno.ChildProcess | null } = { child: null };
    try {
      const bundled = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--platform",
          "browser",
          "-o",
          `${dir}/worker.js`,
          "tests/distributed/_browser_worker.ts",
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(bundled.success, new TextDecoder().decode(bundled.stderr));
      const js = await Deno.readTextFile(`${dir}/worker.js`);
      // One page, the bundle inline (a file:// page may not load module scripts by URL).
      await Deno.writeTextFile(
        `${dir}/worker.html`,
        `<!doctype html><body><script type="module">${
          js.replaceAll("</script", "<\\/script")
        }</script>`,
      );
      const run = runName("browser");
      const page = `file://${dir}/worker.html?nats=${server!.wsUrl}&run=${run}&strategy=openai`;
      chrome.child = new Deno.Command(CHROMIUM, {
        args: [
          "--headless=new",
          "--no-sandbox",
          "--disable-dev-shm-usage",
          "--enable-unsafe-webgpu",
          "--enable-logging=stderr",
          "--v=0",
          `--user-data-dir=${dir}/profile`,
          page,
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const log: string[] = [];
      const reading = (async () => {
        const lines = chrome.child!.stderr.pipeThrough(new TextDecoderStream());
        for await (const chunk of lines) log.push(chunk);
      })();
      for (let i = 0; i < 600 && !/WORKER START/.test(log.join("")); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(log.join(""), /WORKER START adapter/, "the page did not start in 30 s");
      if (/WORKER START adapter none/.test(log.join(""))) {
        console.warn("browser test: this Chromium has no WebGPU adapter; nothing more to check");
        return;
      }
      const nc = await connectTo(server!.url);
      let workers = 0;
      const { checksums } = await runCoordinator(nc, await testJob("openai"), {
        run,
        generations: 3,
        shardSize: 4,
        resultTimeoutMs: 60_000,
        onGeneration: (s) => (workers = Math.max(workers, s.workers)),
      });
      assert.deepEqual(checksums, await expected("openai", 3));
      assert.equal(workers, 1);
      // The tab applied every record, checked every checksum, and says so in its console.
      const done = new RegExp(`WORKER DONE (\\{[^}]*"checksum":"${checksums.at(-1)}"\\})`);
      for (let i = 0; i < 200 && !done.test(log.join("")); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const text = log.join("");
      assert.match(text, /WORKER START adapter \w+/);
      assert.match(text, done, text.split("\n").filter((l) => l.includes("WORKER")).join("\n"));
      chrome.child.kill("SIGKILL");
      await chrome.child.status;
      chrome.child = null;
      await reading.catch(() => undefined);
      await nc.close();
    } finally {
      if (chrome.child !== null) {
        chrome.child.kill("SIGKILL");
        await chrome.child.status;
      }
      await Deno.remove(dir, { recursive: true }).catch(() => undefined);
    }
  },
});

Deno.test({
  name: "stop the test nats-server",
  ignore,
  sanitizeResources: false,
  async fn() {
    await server!.stop();
  },
});
