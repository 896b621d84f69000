// src/io/atomic.ts: a process killed between any two writes of writeFileAtomic leaves the
// previous file or the new one, never a mix, and at most one temporary file, which the next
// write replaces; a failed write leaves the previous file and no temporary.

import assert from "node:assert/strict";
import { atomicWriteHooks, temporaryPath, writeFileAtomic } from "../../src/io/atomic.ts";
import { contents } from "./fixtures/atomic_child.ts";

const STAGES = ["open", "write 0", "write 1", "write 2", "sync", "close", "rename", "directory"];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function only(bytes: Uint8Array, value: number): boolean {
  return bytes.length === 2.5 * 2 ** 20 && bytes.every((b) => b === value);
}

Deno.test("writeFileAtomic killed after any stage leaves the old file or the new one, never a mix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [i, stage] of STAGES.entries()) {
      const path = `${dir}/file-${i}.bin`;
      const { code } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "tests/io/fixtures/atomic_child.ts",
          path,
          stage,
        ],
      }).output();
      assert.equal(code, 86, `the child died at ${stage}`);
      const renamed = STAGES.indexOf(stage) >= STAGES.indexOf("rename");
      assert.ok(only(await Deno.readFile(path), renamed ? 0xb : 0xa), `${stage}: old or new file`);
      assert.equal(
        await exists(temporaryPath(path)),
        !renamed,
        `${stage}: a temporary file is left`,
      );
      // The next write replaces the stale temporary file.
      await writeFileAtomic(path, contents(0xc));
      assert.ok(only(await Deno.readFile(path), 0xc));
      assert.equal(await exists(temporaryPath(path)), false);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic that fails (a full disk) leaves the previous file and no temporary", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/file.bin`;
  try {
    await writeFileAtomic(path, contents(0xa));
    for (const stage of ["open", "write 1", "sync", "close"]) {
      atomicWriteHooks.stage = (s) => {
        if (s === stage) throw new Error("No space left on device (os error 28)");
      };
      try {
        await assert.rejects(writeFileAtomic(path, contents(0xb)), /No space left/);
      } finally {
        atomicWriteHooks.stage = null;
      }
      assert.ok(only(await Deno.readFile(path), 0xa), stage);
      assert.equal(await exists(temporaryPath(path)), false, stage);
    }
    await assert.rejects(
      writeFileAtomic(`${dir}/missing/file.bin`, contents(1)),
      Deno.errors.NotFound,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic removes the timestamped temporary files earlier versions left", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/ckpt.safetensors`;
  try {
    await Deno.writeTextFile(`${path}.tmp-1764979200000`, "stale");
    await Deno.writeTextFile(`${dir}/other.tmp-1`, "not ours");
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    assert.equal(await exists(`${path}.tmp-1764979200000`), false);
    assert.equal(await exists(`${dir}/other.tmp-1`), true);
    assert.deepEqual([...await Deno.readFile(path)], [1, 2, 3]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
