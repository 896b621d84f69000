/**
 * `DataLoader`: seeded shuffling, normalisation and batching of an image dataset onto the GPU.
 *
 * @module
 */

import { currentGpu, type Gpu } from "../gpu/device.ts";
import { Generator } from "../rng.ts";
import { recordClassTargets } from "../ops/_targets.ts";
import { Tensor } from "../tensor.ts";
import type { ImageDataset } from "./dataset.ts";

/** MNIST's pixel mean and standard deviation (of pixels scaled to [0, 1]), as torchvision uses. */
export const MNIST_MEAN = 0.1307;
/** See {@linkcode MNIST_MEAN}. */
export const MNIST_STD = 0.3081;

/** Options of {@linkcode DataLoader}. */
export interface LoaderOptions {
  /** Images per batch. */
  batchSize: number;
  /** Shuffle the order every epoch (seeded). Default false. */
  shuffle?: boolean;
  /** Seed of the shuffle; epoch e uses the permutation of (seed, e). Default 0. */
  seed?: number;
  /** Normalisation: x = (pixel / 255 − mean) / std. Default MNIST's 0.1307 and 0.3081. */
  mean?: number;
  /** See `mean`. */
  std?: number;
  /** Drop the last incomplete batch. Default false (torch's default). */
  dropLast?: boolean;
  /** Device; defaults to the one from `initGpu()`. */
  gpu?: Gpu;
}

/** One batch: images `[size, 1, height, width]` and labels `[size]` (class indices as f32). */
export interface Batch {
  /** Normalised images `[size, 1, height, width]`. */
  readonly x: Tensor;
  /** Class indices as f32, `[size]`. */
  readonly y: Tensor;
  /** Examples in this batch (`batchSize`, or fewer for the last one). */
  readonly size: number;
  /** Index of the batch in its epoch. */
  readonly index: number;
}

/**
 * Batches of a dataset as GPU tensors. The loader owns the batch tensors and reuses them: a
 * batch is valid until the next one is produced (do not dispose it). Uploading a batch never
 * waits for the GPU.
 *
 * @example
 * ```ts ignore
 * const loader = new DataLoader(splits.train, { batchSize: 32, shuffle: true, seed: 0 });
 * for (const { x, y } of loader.batches(epoch)) opt.step(() => lossOf(model.forward(x), y));
 * ```
 */
export class DataLoader {
  /** The dataset it batches. */
  readonly dataset: ImageDataset;
  /** Images per batch. */
  readonly batchSize: number;
  /** Whether each epoch has its own seeded permutation. */
  readonly shuffle: boolean;
  /** Seed of the shuffle. */
  readonly seed: number;
  /** Whether the last incomplete batch is dropped. */
  readonly dropLast: boolean;
  /** Device the batch tensors live on. */
  readonly gpu: Gpu;
  readonly #table = new Float32Array(256);
  readonly #tensors = new Map<number, { x: Tensor; y: Tensor }>();
  readonly #pixels: Float32Array;
  readonly #labels: Float32Array;

  /**
   * Creates a loader; batch tensors are allocated when first produced.
   *
   * @param dataset the images and labels to batch.
   * @param options batch size, shuffle, seed, normalisation, `dropLast` and device.
   * @throws {RangeError} for a batch size < 1 or a non-positive std.
   */
  constructor(dataset: ImageDataset, options: LoaderOptions) {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`DataLoader: batchSize must be an integer >= 1, received ${batchSize}`);
    }
    const mean = options.mean ?? MNIST_MEAN;
    const std = options.std ?? MNIST_STD;
    if (!(std > 0)) throw new RangeError(`DataLoader: std must be > 0, received ${std}`);
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? false;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.gpu = options.gpu ?? currentGpu();
    for (let v = 0; v < 256; v++) this.#table[v] = (v / 255 - mean) / std;
    this.#pixels = new Float32Array(batchSize * dataset.height * dataset.width);
    this.#labels = new Float32Array(batchSize);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.count / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The order of the examples in `epoch` (identity without shuffle). */
  order(epoch: number): Uint32Array {
    const order = new Uint32Array(this.dataset.count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    if (this.shuffle) new Generator(this.seed, epoch).shuffle(order);
    return order;
  }

  /**
   * The batches of one epoch, in order.
   *
   * @param epoch selects the shuffle permutation.
   * @param limit stop after this many batches (smoke tests).
   */
  *batches(epoch = 0, limit = Infinity): IterableIterator<Batch> {
    const order = this.order(epoch);
    const count = Math.min(this.length, limit);
    for (let b = 0; b < count; b++) yield this.#upload(order, b);
  }

  /**
   * Batch `index` of `epoch` on its own: the same values {@linkcode batches} yields at that
   * position. Random access lets processes that share a seed rebuild the same batch (the
   * distributed workers each rebuild generation g's batch) without walking the epoch.
   *
   * @param epoch selects the shuffle permutation (an integer >= 0).
   * @param index the batch's position in the epoch, in `[0, length)`.
   * @throws {RangeError} for an epoch or index out of range.
   */
  batch(epoch: number, index: number): Batch {
    if (!Number.isInteger(epoch) || epoch < 0) {
      throw new RangeError(`DataLoader.batch: epoch must be an integer >= 0, received ${epoch}`);
    }
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(
        `DataLoader.batch: index must be an integer in [0, ${this.length}), received ${index}`,
      );
    }
    return this.#upload(this.order(epoch), index);
  }

  #upload(order: Uint32Array, b: number): Batch {
    const { height, width, images, labels } = this.dataset;
    const pixels = height * width;
    const start = b * this.batchSize;
    const size = Math.min(this.batchSize, this.dataset.count - start);
    let largest = 0;
    for (let i = 0; i < size; i++) {
      const k = order[start + i];
      const src = k * pixels;
      const dst = i * pixels;
      for (let p = 0; p < pixels; p++) this.#pixels[dst + p] = this.#table[images[src + p]];
      this.#labels[i] = labels[k];
      if (labels[k] > largest) largest = labels[k];
    }
    const { x, y } = this.#batchTensors(size);
    this.gpu.write(x.buffer, 0, this.#pixels.subarray(0, size * pixels));
    this.gpu.write(y.buffer, 0, this.#labels.subarray(0, size));
    recordClassTargets(y, largest); // crossEntropy refuses a class the logits do not have
    return { x, y, size, index: b };
  }

  #batchTensors(size: number): { x: Tensor; y: Tensor } {
    let pair = this.#tensors.get(size);
    if (pair === undefined) {
      const { height, width } = this.dataset;
      pair = {
        x: Tensor.empty([size, 1, height, width], { gpu: this.gpu }).keep(),
        y: Tensor.empty([size], { gpu: this.gpu }).keep(),
      };
      this.#tensors.set(size, pair);
    }
    return pair;
  }

  /** Frees the batch tensors. */
  dispose(): void {
    for (const { x, y } of this.#tensors.values()) {
      x.dispose();
      y.dispose();
    }
    this.#tensors.clear();
  }
}
