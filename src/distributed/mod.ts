/**
 * Evolution strategies across processes and machines, over NATS JetStream
 * (`@torchzero/torchzero/distributed`). The core library has no runtime dependency; this entry
 * point depends on the NATS maintainers' `@nats-io/nats-core`, `@nats-io/jetstream` and
 * `@nats-io/obj` (v3; nats-server >= 2.9.4 with JetStream).
 *
 * Every process builds the same {@linkcode EsJob} (model, strategy, loss) from the same seeds.
 * Per generation the coordinator publishes the candidates in shards; workers regenerate the
 * candidates from the strategy's seed and step, evaluate their shards and return P floats of
 * losses; the coordinator appends a record with all P losses, and every replica applies the
 * same deterministic `tell`, checked by a checksum of the parameters. The parameters never
 * travel, except as a snapshot for a worker that joins late. See docs/DISTRIBUTED.md.
 *
 * @example
 * ```ts ignore
 * import { runCoordinator, runWorker } from "@torchzero/torchzero/distributed";
 *
 * // connect() of @nats-io/transport-node over TCP, or wsconnect() of @nats-io/nats-core in a browser
 * const nc = await connect({ servers: "nats.example:4222", maxReconnectAttempts: -1 });
 * // on the coordinator's machine:
 * await runCoordinator(nc, makeJob(), { run: "mnist", generations: 1000 });
 * // on each worker's machine:
 * await runWorker(nc, makeJob(), { run: "mnist" });
 * ```
 *
 * @module
 */

export { type EsJob, fingerprint, Replica, runLocal } from "./replica.ts";
export {
  type CoordinatorOptions,
  type CoordinatorResult,
  type GenerationStats,
  runCoordinator,
} from "./coordinator.ts";
export { DivergenceError, runWorker, type WorkerOptions, type WorkerResult } from "./worker.ts";
export {
  type GenerationRecord,
  type NatsClient,
  type RunNames,
  runNames,
  type ShardResult,
  type Task,
} from "./run.ts";
export type { Module } from "../nn/module.ts";
export type { LRScheduler } from "../optim/first_order/_scheduler_base.ts";
export type { PopulationOptimizer } from "../optim/population/population_optimizer.ts";
export type { Tensor } from "../tensor.ts";
