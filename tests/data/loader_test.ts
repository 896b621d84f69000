import type { ImageDataset } from "../../src/data/dataset.ts";
import { DataLoader } from "../../src/data/loader.ts";
import { assert, assertClose, gpu } from "../_util.ts";

/** 10 images of 2×3 pixels; image k has every pixel = 10k and label k. */
const DATA: ImageDataset = {
  images: Uint8Array.from({ length: 60 }, (_, i) => 10 * Math.floor(i / 6)),
  labels: Uint8Array.from({ length: 10 }, (_, k) => k),
  count: 10,
  height: 2,
  width: 3,
};

Deno.test("DataLoader yields normalised batches with torch's last partial batch", async () => {
  const loader = new DataLoader(DATA, { batchSize: 4, gpu });
  assert.equal(loader.length, 3);
  const seen: number[][] = [];
  for (const { x, y, size } of loader.batches(0)) {
    assert.deepEqual(x.shape, [size, 1, 2, 3]);
    const labels = [...await y.read()];
    const pixels = await x.read();
    labels.forEach((k, i) => {
      assertClose(
        pixels.subarray(6 * i, 6 * i + 6),
        new Array(6).fill((10 * k / 255 - 0.1307) / 0.3081),
      );
    });
    seen.push(labels);
  }
  assert.deepEqual(seen, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  loader.dispose();
});

Deno.test("DataLoader shuffles with a seed: same seed and epoch, same order", () => {
  const a = new DataLoader(DATA, { batchSize: 4, shuffle: true, seed: 3, gpu });
  const b = new DataLoader(DATA, { batchSize: 4, shuffle: true, seed: 3, gpu });
  const c = new DataLoader(DATA, { batchSize: 4, shuffle: true, seed: 4, gpu });
  assert.deepEqual([...a.order(1)], [...b.order(1)]);
  assert.notDeepEqual([...a.order(1)], [...a.order(2)]);
  assert.notDeepEqual([...a.order(1)], [...c.order(1)]);
  assert.deepEqual([...a.order(1)].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Deno.test("DataLoader honours dropLast, limit and custom normalisation", async () => {
  const loader = new DataLoader(DATA, { batchSize: 4, dropLast: true, mean: 0, std: 1, gpu });
  assert.equal(loader.length, 2);
  const batches = [...loader.batches(0, 1)];
  assert.equal(batches.length, 1);
  assertClose(
    await batches[0].x.read(),
    Array.from({ length: 24 }, (_, i) => 10 * Math.floor(i / 6) / 255),
  );
  loader.dispose();
});

Deno.test("DataLoader rejects bad options", () => {
  assert.throws(
    () => new DataLoader(DATA, { batchSize: 0, gpu }),
    /batchSize must be an integer >= 1/,
  );
  assert.throws(() => new DataLoader(DATA, { batchSize: 2, std: 0, gpu }), /std must be > 0/);
});

Deno.test("DataLoader.batch(epoch, index) rebuilds the batch batches(epoch) yields there", async () => {
  const loader = new DataLoader(DATA, { batchSize: 4, shuffle: true, seed: 5, gpu });
  const walked: number[][] = [];
  for (const { y } of loader.batches(2)) walked.push([...await y.read()]);
  for (const index of [2, 0, 1]) {
    const { y, size, index: at } = loader.batch(2, index);
    assert.equal(at, index);
    assert.equal(size, walked[index].length);
    assert.deepEqual([...await y.read()], walked[index]);
  }
  assert.throws(() => loader.batch(0, 3), /index must be an integer in \[0, 3\), received 3/);
  assert.throws(() => loader.batch(-1, 0), /epoch must be an integer >= 0, received -1/);
  loader.dispose();
});
