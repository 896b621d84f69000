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

/** Parses the four files of an MNIST-format dataset. */
export async function parseSplits(files: IdxFiles): Promise<DatasetSplits> {
  const [a, b, c, d] = await Promise.all([
    parseIdx(files.trainImages, "train images"),
    parseIdx(files.trainLabels, "train labels"),
    parseIdx(files.testImages, "test images"),
    parseIdx(files.testLabels, "test labels"),
  ]);
  return { train: imageDataset(a, b, "train split"), test: imageDataset(c, d, "test split") };
}

const NAMES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
};

/**
 * Loads a directory holding the MNIST file names (`train-images-idx3-ubyte`, ...), raw or with
 * a `.gz` suffix: MNIST itself, Fashion-MNIST (Debian: /usr/share/datasets/fashion-mnist),
 * KMNIST and other MNIST-format sets. Needs `--allow-read` for the directory.
 *
 * @throws {Error} naming the missing file, or a parse error.
 */
export async function loadIdxDirectory(dir: string): Promise<DatasetSplits> {
  const files: Partial<IdxFiles> = {};
  for (const [key, base] of Object.entries(NAMES)) {
    let bytes: Uint8Array | undefined;
    for (const candidate of [base, `${base}.gz`]) {
      try {
        bytes = await Deno.readFile(`${dir}/${candidate}`);
        break;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    if (bytes === undefined) throw new Error(`${dir}: missing ${base} (or ${base}.gz)`);
    files[key as keyof IdxFiles] = bytes;
  }
  return parseSplits(files as IdxFiles);
}
