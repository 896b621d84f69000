/**
 * `runWorker`: one worker of a distributed run. It starts from the newest snapshot in the
 * object store and replays the generation records after it (a late joiner catches up the same
 * way), then pulls shards from the work queue, evaluates them and publishes their losses,
 * while applying each generation record as it arrives and checking the coordinator's
 * checksum. It uses the NATS client given to it and no Deno API, so a browser tab can run it
 * over a WebSocket connection.
 *
 * @module
 */

import { DeliverPolicy } from "@nats-io/jetstream";
import { type EsJob, Replica } from "./replica.ts";
import {
  encodeJson,
  type GenerationRecord,
  lastRecord,
  type NatsClient,
  openRun,
  retry,
  type RunHandles,
  runNames,
  type ShardResult,
  sleep,
  snapshotName,
  type Task,
} from "./run.ts";

/** Options of {@linkcode runWorker}. */
export interface WorkerOptions {
  /** The run's name, as the coordinator was given it. */
  run: string;
  /** The worker's name in results and errors. Default a random one. */
  name?: string;
  /** Called after each generation this worker applied. */
  onGeneration?: (generation: number, checksum: string) => void;
  /** Called after each shard this worker evaluated, once its result is published. */
  onShard?: (result: ShardResult) => void;
  /** Stops the worker (a held shard goes back to the queue after the ack wait). */
  signal?: AbortSignal;
}

/** What {@linkcode runWorker} returns once the run's last generation is applied. */
export interface WorkerResult {
  /** Generations of the run. */
  generations: number;
  /** The generation this worker started from (its snapshot). */
  joinedAt: number;
  /** Shards it evaluated. */
  shards: number;
  /** The center's fingerprint at the end (equal to the coordinator's). */
  checksum: string;
}

/** A replica whose checksum disagrees with the coordinator's: the run cannot go on. */
export class DivergenceError extends Error {
  /** The generation whose update disagreed. */
  readonly generation: number;

  /**
   * An error about generation `generation`'s update.
   *
   * @param generation the generation whose update disagreed.
   * @param message what disagreed.
   */
  constructor(generation: number, message: string) {
    super(message);
    this.name = "DivergenceError";
    this.generation = generation;
  }
}

/**
 * Runs one worker of run `options.run` until the run's last generation (or the signal).
 *
 * @param nc a connection to the run's NATS server (TCP, or `wsconnect` in a browser).
 * @param job the model, strategy and loss, built exactly as the coordinator built them.
 * @throws {DivergenceError} when this replica's parameters differ from the coordinator's.
 * @throws {Error} when its evaluation fails (reported to the coordinator too), or NATS stays
 *   unreachable for a minute.
 */
export async function runWorker(
  nc: NatsClient,
  job: EsJob,
  options: WorkerOptions,
): Promise<WorkerResult> {
  const names = runNames(options.run);
  const name = options.name ?? `worker-${crypto.randomUUID().slice(0, 8)}`;
  const h = await openRun(nc, names, options.signal);
  const replica = new Replica(job);
  await restoreNewest(h, replica, options.signal);
  const joinedAt = replica.generation;
  const lock = new Lock();
  const stop = new AbortController();
  const abort = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", abort);
  let final = -1;
  let shards = 0;

  const follow = async () => {
    const records = await h.js.consumers.get(names.gens, { deliver_policy: DeliverPolicy.All });
    try {
      while (!stop.signal.aborted) {
        const m = await records.next({ expires: 1000 }).catch(() => null);
        if (m === null) continue;
        const record = m.json<GenerationRecord>();
        if (record.generation < replica.generation) continue;
        const checksum = await lock.run(() => applyRecord(replica, record, name));
        options.onGeneration?.(record.generation, checksum);
        if (record.final) {
          final = record.generation + 1;
          stop.abort();
        }
      }
    } finally {
      await records.delete().catch(() => false);
    }
  };

  const work = async () => {
    const tasks = await h.js.consumers.get(names.tasks, names.consumer);
    while (!stop.signal.aborted) {
      const m = await tasks.next({ expires: 1000 }).catch(() => null);
      if (m === null) continue;
      const task = m.json<Task>();
      let beat = Date.now();
      while (task.generation > replica.generation && !stop.signal.aborted) {
        if (Date.now() - beat > 1000) {
          m.working(); // still catching up: keep the shard
          beat = Date.now();
        }
        await sleep(5);
      }
      if (stop.signal.aborted && final < 0) return; // stopped: the shard is redelivered
      if (task.generation < replica.generation) {
        m.ack(); // its generation is complete: someone else answered it
        continue;
      }
      const started = performance.now();
      let result: ShardResult;
      let failure: unknown = null;
      try {
        const losses = await lock.run(() => replica.evaluate(task.first, task.count));
        result = {
          ...task,
          losses: Array.from(losses),
          worker: name,
          ms: performance.now() - started,
        };
      } catch (error) {
        failure = error;
        result = {
          ...task,
          error: String((error as Error)?.message ?? error),
          worker: name,
          ms: 0,
        };
      }
      const data = encodeJson(result);
      await retry(
        "publishing a result",
        () =>
          h.js.publish(names.resultSubject(task.generation), data, {
            msgID: `r-g${task.generation}-s${task.shard}`,
          }),
      );
      await retry("acknowledging a shard", () => m.ackAck());
      if (failure !== null) throw failure;
      shards++;
      options.onShard?.(result);
    }
  };

  const guard = (p: Promise<void>) =>
    p.catch((error) => {
      stop.abort(error);
      throw error;
    });
  try {
    await Promise.all([guard(follow()), guard(work())]);
  } finally {
    options.signal?.removeEventListener("abort", abort);
  }
  options.signal?.throwIfAborted();
  return { generations: final, joinedAt, shards, checksum: await replica.checksum() };
}

/**
 * Brings a fresh replica to the state after generation `through` (the coordinator resuming):
 * the newest snapshot, then the records after it, each checked.
 */
export async function replay(
  h: RunHandles,
  replica: Replica,
  through: number,
  signal?: AbortSignal,
): Promise<void> {
  await restoreNewest(h, replica, signal);
  if (replica.generation > through) return;
  const records = await h.js.consumers.get(h.names.gens, { deliver_policy: DeliverPolicy.All });
  try {
    while (replica.generation <= through) {
      signal?.throwIfAborted();
      const m = await records.next({ expires: 2000 });
      if (m === null) {
        throw new Error(
          `distributed: run "${h.names.run}": generation ${replica.generation}'s record is missing from stream ${h.names.gens}`,
        );
      }
      const record = m.json<GenerationRecord>();
      if (record.generation >= replica.generation) {
        await applyRecord(replica, record, "coordinator");
      }
    }
  } finally {
    await records.delete().catch(() => false);
  }
}

/** Restores the newest snapshot the records name (polling until the coordinator stored one). */
async function restoreNewest(h: RunHandles, replica: Replica, signal?: AbortSignal): Promise<void> {
  let missing: string | null = null;
  const since = Date.now();
  for (;;) {
    signal?.throwIfAborted();
    if (missing !== null && Date.now() - since > 60_000) {
      throw new Error(
        `distributed: run "${h.names.run}": snapshot ${missing} is not in object store ${h.names.bucket} after 60 s (the coordinator stores gen-0 when it starts; was the bucket deleted?)`,
      );
    }
    const last = await retry("reading the last generation record", () => lastRecord(h));
    const k = last?.snapshot ?? 0;
    const bytes = await retry(
      "reading a snapshot",
      () => h.store.getBlob(snapshotName(k)),
    );
    if (bytes !== null) {
      await replica.restore(bytes, `snapshot ${snapshotName(k)} of run "${h.names.run}"`);
      return;
    }
    missing = snapshotName(k);
    await sleep(100); // not stored yet, or replaced meanwhile by a newer one
  }
}

async function applyRecord(
  replica: Replica,
  record: GenerationRecord,
  name: string,
): Promise<string> {
  if (record.generation !== replica.generation) {
    throw new Error(
      `distributed: ${name} is at generation ${replica.generation} but the next record is generation ${record.generation}`,
    );
  }
  await replica.apply(record.losses);
  const checksum = await replica.checksum();
  if (checksum !== record.checksum) {
    throw new DivergenceError(
      record.generation,
      `distributed: ${name} diverged at generation ${record.generation}: its parameters hash to ${checksum}, the coordinator's to ${record.checksum} (another GPU, driver or library version computes differently)`,
    );
  }
  return checksum;
}

/** Runs async sections one at a time (evaluating a shard and applying a record share the GPU). */
class Lock {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
