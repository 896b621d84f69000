/**
 * Atomic file replacement: the bytes go to a temporary file beside the target, are flushed to
 * the disk (`fsync`), and the temporary file is renamed over the target, which the file
 * system does in one step. A process killed at any moment, or a disk that fills up, leaves
 * either the previous file or the new one, never a mix, and at most one temporary file
 * (`PATH.tmp`), which the next write to `PATH` replaces.
 *
 * @module
 */

/** Bytes per write call (several writes per file make a crash mid-file testable). */
const CHUNK = 1 << 20;

/**
 * Test hook: when set, awaited after every stage of {@linkcode writeFileAtomic} ("open",
 * "write 0", "write 1", ..., "sync", "close", "rename", "directory"). Tests stop a process
 * there to check that a crash between any two writes leaves a usable file.
 *
 * @internal
 */
export const atomicWriteHooks: { stage: ((stage: string) => void | Promise<void>) | null } = {
  stage: null,
};

/** The temporary file {@linkcode writeFileAtomic} writes before renaming it to `path`. */
export function temporaryPath(path: string): string {
  return `${path}.tmp`;
}

/**
 * Replaces the file at `path` with `bytes` atomically: written to `PATH.tmp`, synced to the
 * disk, then renamed to `path`; the directory is synced too when the process may read it. On
 * an error (a full disk, a missing directory) the temporary file is removed and the previous
 * file at `path` is left as it was. Needs write permission for `path` and `PATH.tmp`.
 *
 * Temporary files of earlier versions (`PATH.tmp-<digits>`) are removed when the process may
 * read the directory. Two processes writing the same path at once are not supported.
 *
 * @param path the file to create or replace.
 * @param bytes its new contents.
 * @throws {Deno.errors.NotFound} when the directory does not exist, and whatever the file
 *   system reports (permission denied, no space left); the previous file is unchanged.
 * @example
 * ```ts ignore
 * await writeFileAtomic("run.json", new TextEncoder().encode(JSON.stringify(result)));
 * ```
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = temporaryPath(path);
  await removeStaleTemporaries(path);
  let file: Deno.FsFile | null = null;
  try {
    file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    await stage("open");
    for (let at = 0, chunk = 0; at < bytes.length; chunk++) {
      const piece = bytes.subarray(at, Math.min(bytes.length, at + CHUNK));
      let written = 0;
      while (written < piece.length) written += await file.write(piece.subarray(written));
      at += piece.length;
      await stage(`write ${chunk}`);
    }
    await file.sync();
    await stage("sync");
    file.close();
    file = null;
    await stage("close");
    await Deno.rename(tmp, path);
    await stage("rename");
  } catch (error) {
    try {
      file?.close();
    } catch {
      // already closed
    }
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
  await syncDirectory(parentOf(path));
  await stage("directory");
}

/** The directory holding `path` ("." for a bare name). */
export function parentOf(path: string): string {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (cut < 0) return ".";
  return cut === 0 ? path.slice(0, 1) : path.slice(0, cut);
}

async function stage(name: string): Promise<void> {
  if (atomicWriteHooks.stage !== null) await atomicWriteHooks.stage(name);
}

async function mayRead(path: string): Promise<boolean> {
  return (await Deno.permissions.query({ name: "read", path })).state === "granted";
}

/** Makes the rename durable: syncs the directory entry (POSIX only; skipped without read). */
async function syncDirectory(dir: string): Promise<void> {
  if (Deno.build.os === "windows" || !(await mayRead(dir))) return;
  try {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  } catch {
    // Some file systems cannot sync a directory; the rename itself is still atomic.
  }
}

/** Removes `PATH.tmp-<digits>` files left by earlier versions of the library. */
async function removeStaleTemporaries(path: string): Promise<void> {
  const dir = parentOf(path);
  const name = path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
  if (!(await mayRead(dir))) return;
  const stale = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.tmp-\\d+$`);
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && stale.test(entry.name)) {
        await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
      }
    }
  } catch {
    // an unreadable directory: nothing to clean
  }
}
