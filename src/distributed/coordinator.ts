/**
 * `runCoordinator`: drives a distributed run. Per generation it publishes the shards as
 * work-queue tasks, gathers the workers' losses (a duplicate is ignored), applies the update
 * to its own replica, stores a snapshot every few generations, and appends the generation
 * record every worker applies. Restarted, it resumes after the last record in JetStream.
 *
 * @module
 */

import { DeliverPolicy } from "@nats-io/jetstream";
import { Replica } from "./replica.ts";
import {
  createRun,
  encodeJson,
  type GenerationRecord,
  lastRecord,
  type NatsClient,
  retry,
  type RunHandles,
  runNames,
  type ShardResult,
  snapshotName,
} from "./run.ts";
import { replay } from "./worker.ts";
import type { EsJob } from "./replica.ts";

/** Options of {@linkcode runCoordinator}. */
export interface CoordinatorOptions {
  /** The run's name: its streams and bucket are named after it. */
  run: string;
  /** Generations to run in all (a resumed run counts those already done). */
  generations: number;
  /** Candidates per task. Default ⌈P / 16⌉: several shards per worker balance the load. */
  shardSize?: number;
  /** A snapshot every this many generations (and at 0). Default 10. */
  snapshotEvery?: number;
  /** A worker holding a shard this long without acking loses it to another. Default 30 s. */
  ackWaitMs?: number;
  /**
   * Deliveries of one shard before the server stops redelivering it (the run then stops when
   * `resultTimeoutMs` runs out). Default 5.
   */
  maxDeliver?: number;
  /** With no result for this long, the run stops with an error naming the missing shards. Default 600 s. */
  resultTimeoutMs?: number;
  /** Delete the run's streams and snapshots first: start over instead of resuming. Default false. */
  fresh?: boolean;
  /** Called after each generation. */
  onGeneration?: (stats: GenerationStats) => void;
  /** Stops the run between generations. */
  signal?: AbortSignal;
}

/** What one generation cost, as the coordinator saw it. */
export interface GenerationStats {
  /** The generation. */
  generation: number;
  /** The mean of its P losses. */
  meanLoss: number;
  /** The center's fingerprint after the update. */
  checksum: string;
  /** Wall time from publishing the tasks to publishing the record, ms. */
  ms: number;
  /** Of which: the coordinator's own work (publishing, the update, checksum, snapshot), ms. */
  overheadMs: number;
  /** Shards published. */
  shards: number;
  /** Results received (duplicates included). */
  results: number;
  /** Duplicate results ignored. */
  duplicates: number;
  /** Distinct workers that answered. */
  workers: number;
  /** Messages published and received by the coordinator (tasks, results, record). */
  messages: number;
  /** Payload bytes of those messages (snapshots not included). */
  bytes: number;
}

/** What {@linkcode runCoordinator} returns. */
export interface CoordinatorResult {
  /** The center's fingerprint after each generation this call ran. */
  checksums: string[];
  /** The generation it resumed from (0 for a new run). */
  resumedAt: number;
}

/**
 * Runs the coordinator of run `options.run` until `options.generations` generations are done.
 *
 * @param nc a connection to a NATS server with JetStream.
 * @param job the model, strategy and loss, built exactly as the workers build them.
 * @returns the fingerprints and where it resumed.
 * @throws {Error} when a worker reports a failed shard, when no result arrives within
 *   `resultTimeoutMs`, when a recorded checksum does not match on resume, or when NATS stays
 *   unreachable for a minute.
 */
export async function runCoordinator(
  nc: NatsClient,
  job: EsJob,
  options: CoordinatorOptions,
): Promise<CoordinatorResult> {
  const names = runNames(options.run);
  const generations = positive("generations", options.generations);
  const snapshotEvery = positive("snapshotEvery", options.snapshotEvery ?? 10);
  const timeout = positive("resultTimeoutMs", options.resultTimeoutMs ?? 600_000);
  const h = await createRun(nc, names, {
    ackWaitMs: positive("ackWaitMs", options.ackWaitMs ?? 30_000),
    maxDeliver: positive("maxDeliver", options.maxDeliver ?? 5),
    fresh: options.fresh ?? false,
  });
  const replica = new Replica(job);
  let snapshot = 0;
  const last = await lastRecord(h);
  if (last === null) {
    await putSnapshot(h, replica);
  } else {
    snapshot = last.snapshot;
    await replay(h, replica, last.generation, options.signal);
  }
  const resumedAt = replica.generation;
  const checksums: string[] = [];
  for (let g = replica.generation; g < generations; g++) {
    options.signal?.throwIfAborted();
    const started = performance.now();
    const p = await replica.popSize();
    const size = options.shardSize === undefined
      ? Math.ceil(p / 16)
      : positive("shardSize", options.shardSize);
    let bytes = 0;
    let messages = 0;
    const shards = Math.ceil(p / size);
    for (let s = 0; s < shards; s++) {
      const first = s * size;
      const data = encodeJson({ generation: g, shard: s, first, count: Math.min(size, p - first) });
      await retry(
        "publishing a task",
        () => h.js.publish(names.taskSubject, data, { msgID: `g${g}-s${s}` }),
      );
      bytes += data.length;
      messages++;
    }
    let overhead = performance.now() - started;
    const gathered = await gather(h, g, p, shards, timeout);
    const afterGather = performance.now();
    bytes += gathered.bytes;
    messages += gathered.results;
    await replica.apply(gathered.losses);
    const checksum = await replica.checksum();
    const older = snapshot;
    if (replica.generation % snapshotEvery === 0 && replica.generation < generations) {
      await putSnapshot(h, replica);
      snapshot = replica.generation;
    }
    const record: GenerationRecord = {
      generation: g,
      losses: Array.from(gathered.losses),
      checksum,
      snapshot,
      final: g === generations - 1,
    };
    const data = encodeJson(record);
    await retry(
      "publishing the generation record",
      () => h.js.publish(names.genSubject, data, { msgID: `gen-${g}` }),
    );
    if (older !== snapshot) {
      // Only now that the last record names the new snapshot: a restart in between resumes
      // from the older one.
      await h.store.delete(snapshotName(older)).catch(() => undefined);
    }
    bytes += data.length;
    messages++;
    checksums.push(checksum);
    const done = performance.now();
    overhead += done - afterGather;
    options.onGeneration?.({
      generation: g,
      meanLoss: gathered.losses.reduce((a, b) => a + b, 0) / p,
      checksum,
      ms: done - started,
      overheadMs: overhead,
      shards,
      results: gathered.results,
      duplicates: gathered.results - shards,
      workers: gathered.workers.size,
      messages,
      bytes,
    });
  }
  return { checksums, resumedAt };
}

interface Gathered {
  losses: Float32Array;
  results: number;
  workers: Set<string>;
  bytes: number;
}

/** Reads generation g's results (those published before a restart included) until every shard has one. */
async function gather(
  h: RunHandles,
  g: number,
  p: number,
  shards: number,
  timeoutMs: number,
): Promise<Gathered> {
  const losses = new Float32Array(p);
  const have = new Set<number>();
  const workers = new Set<string>();
  let results = 0;
  let bytes = 0;
  const consumer = await retry(
    "opening the results",
    () =>
      h.js.consumers.get(h.names.results, {
        filter_subjects: h.names.resultSubject(g),
        deliver_policy: DeliverPolicy.All,
      }),
  );
  let heard = Date.now();
  try {
    while (have.size < shards) {
      const m = await consumer.next({ expires: 1000 }).catch(() => null);
      if (m === null) {
        if (Date.now() - heard > timeoutMs) {
          const missing = Array.from({ length: shards }, (_, s) => s).filter((s) => !have.has(s));
          throw new Error(
            `distributed: generation ${g}: no result for shards ${missing.join(", ")} within ${
              timeoutMs / 1000
            } s. Are workers running (run "${h.names.run}")? A shard delivered maxDeliver times is not delivered again.`,
          );
        }
        continue;
      }
      heard = Date.now();
      results++;
      bytes += m.data.length;
      const r = m.json<ShardResult>();
      if (r.error !== undefined) {
        throw new Error(
          `distributed: worker ${r.worker} failed on generation ${g}, shard ${r.shard}: ${r.error}`,
        );
      }
      if (r.generation !== g || have.has(r.shard)) continue; // a duplicate: the first one counts
      if (r.losses?.length !== r.count || r.first + r.count > p) {
        throw new Error(
          `distributed: worker ${r.worker} sent ${r.losses?.length} losses for shard ${r.shard} of generation ${g} (candidates ${r.first}..${
            r.first + r.count - 1
          } of ${p})`,
        );
      }
      losses.set(r.losses, r.first);
      have.add(r.shard);
      workers.add(r.worker);
    }
  } finally {
    await consumer.delete().catch(() => false);
  }
  return { losses, results, workers, bytes };
}

async function putSnapshot(h: RunHandles, replica: Replica): Promise<void> {
  const bytes = await replica.snapshot();
  await retry(
    "storing a snapshot",
    () => h.store.putBlob({ name: snapshotName(replica.generation) }, bytes),
  );
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`runCoordinator: ${name} must be an integer >= 1, received ${value}`);
  }
  return value;
}
