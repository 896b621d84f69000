import { imageDataset, loadIdxDirectory, parseSplits } from "../../src/data/dataset.ts";
import { encodeIdx, parseIdx } from "../../src/data/idx.ts";
import { assert } from "../_util.ts";

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const IMAGES = encodeIdx([3, 2, 2], Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
const LABELS = encodeIdx([3], Uint8Array.from([7, 8, 9]));

Deno.test("parseIdx reads dimensions and values of a raw file", async () => {
  const a = await parseIdx(IMAGES);
  assert.equal(a.type, "u8");
  assert.deepEqual(a.dims, [3, 2, 2]);
  assert.deepEqual([...a.data], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
});

Deno.test("parseIdx inflates gzip-compressed files", async () => {
  const a = await parseIdx(await gzip(LABELS));
  assert.deepEqual([...a.data], [7, 8, 9]);
});

Deno.test("parseIdx reads big-endian multi-byte types", async () => {
  const bytes = new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 2, 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]);
  const a = await parseIdx(bytes);
  assert.equal(a.type, "f32");
  assert.deepEqual([...a.data], [1, -2]);
});

Deno.test("parseIdx rejects a wrong magic number, an unknown type and truncated files", async () => {
  await assert.rejects(parseIdx(new Uint8Array([1, 2, 3, 4]), "x"), /x: not an IDX file/);
  await assert.rejects(
    parseIdx(new Uint8Array([0, 0, 0x42, 1, 0, 0, 0, 1, 0])),
    /unknown IDX type code 0x42/,
  );
  await assert.rejects(parseIdx(IMAGES.subarray(0, 10)), /truncated header/);
  await assert.rejects(parseIdx(IMAGES.subarray(0, IMAGES.length - 1), "imgs"), /imgs: truncated/);
});

Deno.test("an image dataset needs as many labels as images", async () => {
  const images = await parseIdx(IMAGES);
  const ds = imageDataset(images, await parseIdx(LABELS));
  assert.deepEqual([ds.count, ds.height, ds.width], [3, 2, 2]);
  const two = await parseIdx(encodeIdx([2], Uint8Array.from([1, 2])));
  assert.throws(() => imageDataset(images, two, "train"), /train: 3 images but 2 labels/);
  assert.throws(() => imageDataset(two, two), /images must be u8 \[count, height, width\]/);
  await assert.rejects(
    parseSplits({
      trainImages: IMAGES,
      trainLabels: two.data as Uint8Array,
      testImages: IMAGES,
      testLabels: LABELS,
    }),
    /not an IDX file/,
  );
});

Deno.test("parseIdx names the file whose gzip data is corrupt", async () => {
  const bytes = await gzip(LABELS);
  bytes[bytes.length - 6] ^= 0xff; // the CRC
  await assert.rejects(
    parseIdx(bytes, "d/train-labels-idx1-ubyte.gz"),
    /d\/train-labels-idx1-ubyte\.gz: corrupt gzip data/,
  );
});

Deno.test("parseSplits refuses a label outside [0, classes), naming the file and the example", async () => {
  const files = {
    trainImages: IMAGES,
    trainLabels: LABELS,
    testImages: IMAGES,
    testLabels: LABELS,
  };
  const splits = await parseSplits(files);
  assert.deepEqual([...splits.train.labels], [7, 8, 9]);
  await assert.rejects(
    parseSplits(files, { classes: 9 }),
    (e: Error) =>
      e instanceof RangeError &&
      /train labels: label 9 of example 2 is outside \[0, 9\)/.test(e.message),
  );
  const twelve = encodeIdx([3], Uint8Array.from([1, 12, 2]));
  await assert.rejects(
    parseSplits({ ...files, testLabels: twelve }),
    /test labels: label 12 of example 1/,
  );
  await assert.rejects(parseSplits(files, { classes: 0 }), RangeError);
});

Deno.test("loadIdxDirectory names a missing directory, a file given as one and a missing file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(loadIdxDirectory(`${dir}/none`), /none: no such directory/);
    await Deno.writeFile(`${dir}/file`, IMAGES);
    await assert.rejects(loadIdxDirectory(`${dir}/file`), /file is not a directory/);
    await Deno.writeFile(`${dir}/train-images-idx3-ubyte`, IMAGES);
    await assert.rejects(loadIdxDirectory(dir), /missing train-labels-idx1-ubyte \(or .*\.gz\)/);
    await Deno.writeFile(`${dir}/train-labels-idx1-ubyte.gz`, await gzip(LABELS));
    await Deno.writeFile(`${dir}/t10k-images-idx3-ubyte`, IMAGES);
    await Deno.writeFile(
      `${dir}/t10k-labels-idx1-ubyte`,
      encodeIdx([3], Uint8Array.from([0, 1, 10])),
    );
    await assert.rejects(
      loadIdxDirectory(dir),
      new RegExp(`${dir}/t10k-labels-idx1-ubyte: label 10 of example 2 is outside \\[0, 10\\)`),
    );
    await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte`, LABELS);
    const splits = await loadIdxDirectory(dir);
    assert.equal(splits.test.count, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
