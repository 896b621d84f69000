/**
 * The NATS JetStream resources of one distributed run and the messages that travel through
 * them. Everything that must arrive goes through JetStream (acknowledged publishes, explicit
 * acks): a core NATS publish with no subscriber is dropped silently.
 *
 * | resource               | kind                         | holds                                    |
 * | ---------------------- | ---------------------------- | ---------------------------------------- |
 * | `TZ_<run>_TASKS`       | stream, work queue, file     | one {@linkcode Task} per (generation, shard) |
 * | `workers` (its durable consumer) | explicit ack, `ackWait` | a worker killed mid-shard: redelivered |
 * | `TZ_<run>_RESULTS`     | stream, limits, file         | {@linkcode ShardResult}s, subject per generation |
 * | `TZ_<run>_GENS`        | stream, limits, file         | one {@linkcode GenerationRecord} per generation |
 * | `tz_<run>` object store | chunked objects             | snapshots `gen-<k>` (checkpoint bytes)   |
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/nats-core";
import {
  AckPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type ObjectStore, Objm } from "@nats-io/obj";

/**
 * A NATS connection, as `connect()` of `@nats-io/transport-node` (TCP) or `wsconnect()` of
 * `@nats-io/nats-core` (WebSocket, browsers) returns it: a `NatsConnection`. Only these members
 * are named here so that this package's documentation stands on its own; the value must be a
 * real `NatsConnection` of `@nats-io/nats-core` v3.
 */
export interface NatsClient {
  /** The server it is connected to. */
  getServer(): string;
  /** Whether it was closed. */
  isClosed(): boolean;
  /** Closes it. */
  close(): Promise<void>;
}

/** The client as the NATS packages type it. */
export function natsConnection(nc: NatsClient): NatsConnection {
  return nc as unknown as NatsConnection;
}

/** One shard of a generation: candidates `first .. first + count − 1`. */
export interface Task {
  /** The generation (0-based). */
  generation: number;
  /** The shard's index in the generation. */
  shard: number;
  /** Its first candidate. */
  first: number;
  /** Its number of candidates. */
  count: number;
}

/** A worker's answer for one shard: the shard's losses, or why it could not evaluate them. */
export interface ShardResult extends Task {
  /** The mean loss of each candidate of the shard (float32 values). */
  losses?: number[];
  /** Set instead of `losses` when the evaluation failed. */
  error?: string;
  /** The worker's name. */
  worker: string;
  /** Milliseconds the evaluation took on the worker. */
  ms: number;
}

/** What the coordinator appends once a generation's P losses are in. */
export interface GenerationRecord {
  /** The generation. */
  generation: number;
  /** The P losses, in candidate order: every replica `tell`s exactly these. */
  losses: number[];
  /** The center's fingerprint after the update ({@linkcode Replica.checksum}). */
  checksum: string;
  /** The newest snapshot in the object store (a generation count <= generation + 1). */
  snapshot: number;
  /** The run's last generation: workers stop after applying it. */
  final: boolean;
}

/** Names of a run's streams, subjects and bucket. */
export interface RunNames {
  /** The run's name. */
  run: string;
  /** Work-queue stream of the tasks. */
  tasks: string;
  /** Its subject. */
  taskSubject: string;
  /** The durable consumer workers pull from. */
  consumer: string;
  /** Stream of the results. */
  results: string;
  /** Subject of generation g's results. */
  resultSubject(generation: number): string;
  /** Stream of the generation records. */
  gens: string;
  /** Their subject. */
  genSubject: string;
  /** Object store bucket of the snapshots. */
  bucket: string;
}

/**
 * The names of run `run`.
 *
 * @throws {RangeError} unless `run` is 1–64 letters, digits, `-` or `_`.
 */
export function runNames(run: string): RunNames {
  if (typeof run !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(run)) {
    throw new RangeError(
      `distributed: run must be 1-64 letters, digits, "-" or "_", received ${JSON.stringify(run)}`,
    );
  }
  return {
    run,
    tasks: `TZ_${run}_TASKS`,
    taskSubject: `tz.${run}.task`,
    consumer: "workers",
    results: `TZ_${run}_RESULTS`,
    resultSubject: (g) => `tz.${run}.result.${g}`,
    gens: `TZ_${run}_GENS`,
    genSubject: `tz.${run}.gen`,
    bucket: `tz_${run}`,
  };
}

/** A run's JetStream handles. */
export interface RunHandles {
  /** The names. */
  names: RunNames;
  /** JetStream client. */
  js: JetStreamClient;
  /** JetStream manager. */
  jsm: JetStreamManager;
  /** The snapshot bucket. */
  store: ObjectStore;
}

/**
 * Creates the run's streams, consumer and bucket if missing (the coordinator), or deletes and
 * recreates them (`fresh`).
 *
 * @param ackWaitMs how long a worker may hold a shard without acking before it is redelivered.
 * @param maxDeliver deliveries of a shard before the server gives up on it.
 */
export async function createRun(
  client: NatsClient,
  names: RunNames,
  o: { ackWaitMs: number; maxDeliver: number; fresh: boolean },
): Promise<RunHandles> {
  const nc = natsConnection(client);
  const jsm = await jetstreamManager(nc);
  const objm = new Objm(nc);
  if (o.fresh) {
    for (const stream of [names.tasks, names.results, names.gens]) {
      await jsm.streams.delete(stream).catch(() => false);
    }
    await objm.open(names.bucket).then((s) => s.destroy()).catch(() => false);
  }
  const file = StorageType.File;
  await jsm.streams.add({
    name: names.tasks,
    subjects: [names.taskSubject],
    retention: RetentionPolicy.Workqueue,
    storage: file,
  }).catch(existing(names.tasks));
  await jsm.consumers.add(names.tasks, {
    durable_name: names.consumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: o.ackWaitMs * 1e6,
    max_deliver: o.maxDeliver,
  });
  await jsm.streams.add({
    name: names.results,
    subjects: [`tz.${names.run}.result.*`],
    storage: file,
  }).catch(existing(names.results));
  await jsm.streams.add({ name: names.gens, subjects: [names.genSubject], storage: file })
    .catch(existing(names.gens));
  const store = await objm.create(names.bucket, { storage: file });
  return { names, js: jetstream(nc), jsm, store };
}

/** A `streams.add` error is fine when the stream already exists (a resumed run). */
function existing(stream: string): (error: unknown) => void {
  return (error) => {
    if (!/already in use|already exists/i.test(String((error as Error)?.message))) {
      throw new Error(`distributed: cannot create stream ${stream}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
}

/**
 * The run's handles once the coordinator has created it; waits (polling) until it exists.
 *
 * @param signal stops the wait.
 */
export async function openRun(
  client: NatsClient,
  names: RunNames,
  signal?: AbortSignal,
): Promise<RunHandles> {
  const nc = natsConnection(client);
  const jsm = await jetstreamManager(nc);
  for (;;) {
    signal?.throwIfAborted();
    try {
      await jsm.streams.info(names.gens);
      await jsm.consumers.info(names.tasks, names.consumer);
      const store = await new Objm(nc).open(names.bucket);
      return { names, js: jetstream(nc), jsm, store };
    } catch {
      await sleep(250);
    }
  }
}

/** The last generation record of the run, or null before the first. */
export async function lastRecord(h: RunHandles): Promise<GenerationRecord | null> {
  const m = await h.jsm.streams.getMessage(h.names.gens, { last_by_subj: h.names.genSubject })
    .catch(() => null);
  return m === null ? null : m.json<GenerationRecord>();
}

/** The object-store name of the snapshot taken after `generations` generations. */
export function snapshotName(generations: number): string {
  return `gen-${generations}`;
}

/**
 * Calls `fn` until it succeeds or `deadline` passes (NATS operations fail while the server
 * restarts; the client reconnects on its own).
 *
 * @throws {Error} naming `what` and the last failure, after the deadline.
 */
export async function retry<T>(
  what: string,
  fn: () => Promise<T>,
  deadlineMs = 60_000,
): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (let wait = 50;; wait = Math.min(2 * wait, 1000)) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > until) {
        throw new Error(
          `distributed: ${what} failed for ${deadlineMs / 1000} s: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      await sleep(wait);
    }
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** UTF-8 JSON bytes of `value`. */
export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
