/**
 * `Replica`: one process's copy of a distributed evolution-strategy run — the model and its
 * optimizer, advanced one generation at a time by the same deterministic `tell` everywhere.
 * It evaluates any shard of a generation's candidates (the noise is regenerated from the
 * optimizer's seed and step, so nothing but the shard's bounds travels), applies a
 * generation's P losses, fingerprints the parameters, and snapshots or restores itself
 * through checkpoint bytes. It knows nothing of NATS: the coordinator and the workers drive it.
 *
 * @module
 */

import { encodeCheckpoint, loadCheckpointBytes } from "../io/checkpoint.ts";
import type { Module } from "../nn/module.ts";
import type { LRScheduler } from "../optim/first_order/_scheduler_base.ts";
import { lossesPerRow, rowMeans } from "../optim/population/evaluation.ts";
import type { PopulationOptimizer } from "../optim/population/population_optimizer.ts";
import type { Tensor } from "../tensor.ts";
import { tidy } from "../tensor.ts";

/**
 * What every process of a distributed run builds the same way, from the same seeds: the model,
 * a population optimizer over its parameters (any evolution strategy of the library), and the
 * loss of generation g.
 */
export interface EsJob {
  /** The model; its home row is the center the strategy moves. */
  readonly model: Module;
  /** The strategy; its seed makes every replica regenerate the same candidates. */
  readonly optimizer: PopulationOptimizer<object>;
  /** A learning-rate scheduler of the strategy's inner optimizer, stepped after each generation. */
  readonly scheduler?: LRScheduler | null;
  /**
   * The losses of the rows the model evaluates now, for generation `generation`: `[rows]`, or
   * `[rows, B]` per-example losses (averaged per row in float64). Called inside `tidy`. Every
   * process must compute the same function of the generation (e.g. the same data batch:
   * `DataLoader.batch(epoch, index)`).
   */
  loss(generation: number): Tensor;
}

/** A replica's model, optimizer and generation counter; see the module docs. */
export class Replica {
  /** The job it runs. */
  readonly job: EsJob;
  #generation = 0;

  /** A replica at generation 0 (the job's initial parameters). */
  constructor(job: EsJob) {
    this.job = job;
  }

  /** Generations applied so far: the generation this replica evaluates next. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Candidates of the current generation, P: asks the optimizer (which writes them on the GPU,
   * after its async preparation, e.g. CMA-ES reading its start point).
   */
  async popSize(): Promise<number> {
    await this.job.optimizer.prepare();
    return this.job.optimizer.ask().size;
  }

  /**
   * The mean loss of candidates `first .. first + count − 1` of the current generation, one
   * float32 each. Only those rows run the forward pass; the others are written but not
   * evaluated. One readback.
   *
   * @throws {RangeError} for a shard outside `[0, P)`.
   * @throws {TypeError} if the job's loss has the wrong size.
   */
  async evaluate(first: number, count: number): Promise<Float32Array> {
    const { model } = this.job;
    const p = await this.popSize();
    if (
      !Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 1 ||
      first + count > p
    ) {
      throw new RangeError(
        `Replica.evaluate: shard [${first}, ${
          first + count
        }) is not inside the ${p} candidates of generation ${this.#generation}`,
      );
    }
    const flat = model.flat;
    const asked = flat.active;
    flat.setActive(count, asked.start + first);
    let loss: Tensor | undefined;
    try {
      loss = tidy(() => this.job.loss(this.#generation));
      const per = lossesPerRow(
        loss,
        count,
        `The job's loss evaluated ${count} rows and must return`,
      );
      return rowMeans(await loss.read(), per);
    } finally {
      loss?.dispose();
      flat.setActive(asked.count, asked.start);
    }
  }

  /**
   * Applies generation {@linkcode generation}'s P losses (the optimizer's `tell`), identically
   * on every replica, and advances to the next generation.
   *
   * @throws {TypeError} for a number of losses other than P.
   */
  async apply(losses: ArrayLike<number>): Promise<void> {
    const p = await this.popSize();
    if (losses.length !== p) {
      throw new TypeError(
        `Replica.apply: generation ${this.#generation} has ${p} candidates, received ${losses.length} losses`,
      );
    }
    this.job.optimizer.tell(losses).dispose();
    this.job.scheduler?.step();
    this.#generation++;
  }

  /** Fingerprint of the center (home row): the first 16 hex digits of its SHA-256. */
  async checksum(): Promise<string> {
    const { optimizer } = this.job;
    return await fingerprint(await optimizer.flat.readRow(optimizer.row));
  }

  /** The replica as checkpoint bytes: weights, optimizer state and the generation. */
  async snapshot(): Promise<Uint8Array> {
    const { model, optimizer, scheduler = null } = this.job;
    return await encodeCheckpoint({
      model,
      optimizer,
      scheduler,
      metadata: { generation: this.#generation },
    });
  }

  /**
   * Restores a {@linkcode snapshot} (checked as any checkpoint: model and optimizer must
   * match).
   *
   * @param name names the snapshot in errors.
   * @throws {CheckpointError} for a damaged snapshot or another model or optimizer.
   */
  async restore(bytes: Uint8Array, name: string): Promise<void> {
    const { model, optimizer, scheduler = null } = this.job;
    const info = await loadCheckpointBytes(bytes, { model, optimizer, scheduler }, name);
    const generation = (info.metadata as { generation?: unknown } | null)?.generation;
    if (typeof generation !== "number" || !Number.isInteger(generation) || generation < 0) {
      throw new TypeError(
        `${name}: the snapshot names no generation (metadata ${JSON.stringify(info.metadata)})`,
      );
    }
    this.#generation = generation;
  }
}

/**
 * Runs `generations` generations in this process alone, evaluating all P candidates at once:
 * the reference a distributed run with the same job reproduces bit for bit.
 *
 * @returns the center's checksum after each generation.
 */
export async function runLocal(replica: Replica, generations: number): Promise<string[]> {
  const sums: string[] = [];
  for (let g = 0; g < generations; g++) {
    await replica.apply(await replica.evaluate(0, await replica.popSize()));
    sums.push(await replica.checksum());
  }
  return sums;
}

/** The first 16 hex digits of the SHA-256 of `values`' bytes. */
export async function fingerprint(values: Float32Array): Promise<string> {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}
