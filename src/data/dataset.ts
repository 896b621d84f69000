/**
 * Image classification datasets in the MNIST format: images as bytes, labels as bytes.
 *
 * @module
 */

import { type IdxArray, parseIdx } from "./idx.ts";

/** Images `[count, height, width]` of u8 pixels and their u8 class labels. */
export interface ImageDataset {
  /** Pixels, row-major `[count, height, width]`. */
  readonly images: Uint8Array;
  /** Class label of each image, `[count]`. */
  readonly labels: Uint8Array;
  /** Number of images. */
  readonly count: number;
  /** Rows of pixels per image. */
  readonly height: number;
  /** Columns of pixels per image. */
  readonly width: number;
}

/** Train and test splits. */
export interface DatasetSplits {
  /** The training split. */
  readonly train: ImageDataset;
  /** The test split. */
  readonly test: ImageDataset;
}

/**
 * Pairs an images file with a labels file.
 *
 * @throws {Error} for the wrong types or ranks, or when the image and label counts differ.
 */
export function imageDataset(images: IdxArray, labels: IdxArray, name = "dataset"): ImageDataset {
  if (images.type !== "u8" || images.dims.length !== 3) {
    throw new Error(
      `${name}: images must be u8 [count, height, width], received ${images.type} [${images.dims}]`,
    );
  }
  if (labels.type !== "u8" || labels.dims.length !== 1) {
    throw new Error(`${name}: labels must be u8 [count], received ${labels.type} [${labels.dims}]`);
  }
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    throw new Error(`${name}: ${count} images but ${labels.dims[0]} labels`);
  }
  return {
    images: images.data as Uint8Array,
    labels: labels.data as Uint8Array,
    count,
    height,
    width,
  };
}

/** The four files of an MNIST-format dataset, as bytes (raw or gzip). */
export interface IdxFiles {
  /** Training images, IDX u8 `[count, height, width]`. */
  trainImages: Uint8Array;
  /** Training labels, IDX u8 `[count]`. */
  trainLabels: Uint8Array;
  /** Test images, IDX u8 `[count, height, width]`. */
  testImages: Uint8Array;
  /** Test labels, IDX u8 `[count]`. */
  testLabels: Uint8Array;
}

/** Options of {@linkcode parseSplits} and {@linkcode loadIdxDirectory}. */
export interface SplitOptions {
  /**
   * Number of classes: a label outside `[0, classes)` is an error. Default 10 (MNIST,
   * Fashion-MNIST, KMNIST); EMNIST's sets need their own count (47 for "balanced").
   */
  classes?: number;
}

const NAMES: Record<keyof IdxFiles, string> = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
};

/**
 * Parses the four files of an MNIST-format dataset.
 *
 * @param files the four files' bytes (raw or gzip).
 * @param options the number of classes the labels must fit.
 * @throws {Error} for a file that does not parse or splits that do not pair up.
 * @throws {RangeError} for a label outside `[0, classes)`, naming the split, example and label.
 */
export function parseSplits(files: IdxFiles, options: SplitOptions = {}): Promise<DatasetSplits> {
  return splitsOf(files, {
    trainImages: "train images",
    trainLabels: "train labels",
    testImages: "test images",
    testLabels: "test labels",
  }, options);
}

async function splitsOf(
  files: IdxFiles,
  names: Record<keyof IdxFiles, string>,
  options: SplitOptions,
): Promise<DatasetSplits> {
  const classes = options.classes ?? 10;
  if (!Number.isInteger(classes) || classes < 1 || classes > 256) {
    throw new RangeError(
      `parseSplits: classes must be an integer in [1, 256], received ${classes}`,
    );
  }
  const [a, b, c, d] = await Promise.all([
    parseIdx(files.trainImages, names.trainImages),
    parseIdx(files.trainLabels, names.trainLabels),
    parseIdx(files.testImages, names.testImages),
    parseIdx(files.testLabels, names.testLabels),
  ]);
  const train = imageDataset(a, b, "train split");
  const test = imageDataset(c, d, "test split");
  checkLabels(train.labels, classes, names.trainLabels);
  checkLabels(test.labels, classes, names.testLabels);
  return { train, test };
}

function checkLabels(labels: Uint8Array, classes: number, name: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classes) {
      throw new RangeError(
        `${name}: label ${
          labels[i]
        } of example ${i} is outside [0, ${classes}) (${classes} classes)`,
      );
    }
  }
}

/**
 * Loads a directory holding the MNIST file names (`train-images-idx3-ubyte`, ...), raw or with
 * a `.gz` suffix: MNIST itself, Fashion-MNIST (Debian: /usr/share/datasets/fashion-mnist),
 * KMNIST and other MNIST-format sets. Needs `--allow-read` for the directory.
 *
 * @param dir the directory.
 * @param options the number of classes the labels must fit (default 10).
 * @throws {Error} naming the directory when it is missing or not a directory, the missing
 *   file, or the file that does not parse (corrupt gzip, wrong magic number, truncated).
 * @throws {RangeError} for a label outside `[0, classes)`, naming the file.
 */
export async function loadIdxDirectory(
  dir: string,
  options: SplitOptions = {},
): Promise<DatasetSplits> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(`${dir}: no such directory`);
    throw error;
  }
  if (!info.isDirectory) throw new Error(`${dir} is not a directory`);
  const files: Partial<IdxFiles> = {};
  const names: Partial<Record<keyof IdxFiles, string>> = {};
  for (const [key, base] of Object.entries(NAMES) as [keyof IdxFiles, string][]) {
    for (const candidate of [base, `${base}.gz`]) {
      try {
        files[key] = await Deno.readFile(`${dir}/${candidate}`);
        names[key] = `${dir}/${candidate}`;
        break;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    if (files[key] === undefined) throw new Error(`${dir}: missing ${base} (or ${base}.gz)`);
  }
  return splitsOf(files as IdxFiles, names as Record<keyof IdxFiles, string>, options);
}
