// Checks examples/mnist.ts runs before any slow work: permissions, files that must be readable,
// paths that must be writable and must not clash. Every failure is one sentence naming the flag.

import { temporaryPath } from "../src/io/atomic.ts";
import { readHeader } from "../src/io/safetensors.ts";
import { UsageError } from "./_options.ts";

/** A problem with a file or directory named on the command line: exit status 1. */
export class InputError extends Error {
  /** @param message what is wrong, naming the flag and the path. */
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/** @throws {InputError} naming the flag to add when a permission is missing (never prompts). */
export async function requirePermission(
  name: "read" | "write",
  path: string,
  option: string,
): Promise<void> {
  const paths = name === "write" ? [path, temporaryPath(path)] : [path];
  for (const p of paths) {
    if ((await Deno.permissions.query({ name, path: p })).state !== "granted") {
      throw new InputError(
        `${option} needs --allow-${name}: deno run --allow-${name} examples/mnist.ts ${option} ${path} ...`,
      );
    }
  }
}

/** Whether the process may read `path` (queried, never prompted). */
export async function mayRead(path: string): Promise<boolean> {
  return (await Deno.permissions.query({ name: "read", path })).state === "granted";
}

/**
 * Refuses two flags naming the same file where that would lose data: the checkpoint, the JSON
 * results and the plot must be different files, and neither results file may be the checkpoint
 * being resumed (saving over the resumed checkpoint is fine).
 *
 * @throws {UsageError} naming both flags.
 */
export function checkClashes(paths: Record<string, string | undefined>): void {
  const entries = Object.entries(paths).filter((e): e is [string, string] => e[1] !== undefined);
  for (let i = 0; i < entries.length; i++) {
    for (let j = i + 1; j < entries.length; j++) {
      const [a, pa] = entries[i], [b, pb] = entries[j];
      if ((a === "--save" && b === "--resume") || (a === "--resume" && b === "--save")) continue;
      if (samePath(pa, pb)) {
        throw new UsageError(`${a} and ${b} name the same file (${pa}); give them different paths`);
      }
    }
  }
}

/**
 * Checks that `path` can be written atomically: its directory exists and takes a new file,
 * and `path` is not a directory. With read permission, refuses to overwrite a file that is not
 * a torchzero checkpoint when `checkpoint` is set.
 *
 * @throws {InputError} naming the flag, the path and the reason.
 */
export async function checkWritable(
  path: string,
  option: string,
  checkpoint = false,
): Promise<void> {
  const probe = temporaryPath(path);
  try {
    const file = await Deno.open(probe, { write: true, create: true, truncate: true });
    file.close();
    await Deno.remove(probe);
  } catch (error) {
    throw new InputError(`${option} ${path}: ${writeProblem(error, parent(path))}`);
  }
  try {
    const file = await Deno.open(path, { write: true });
    file.close();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    if (error instanceof Deno.errors.IsADirectory) {
      throw new InputError(`${option} ${path} is a directory; give a file name`);
    }
    throw new InputError(`${option} ${path} cannot be written: ${reason(error)}`);
  }
  if (checkpoint && await mayRead(path)) {
    const bytes = await Deno.readFile(path);
    let ours = false;
    try {
      const metadata = readHeader(bytes, path).json.__metadata__ as Record<string, string>;
      ours = metadata?.["torchzero.checkpoint"] !== undefined;
    } catch {
      ours = false;
    }
    if (!ours && bytes.length > 0) {
      throw new InputError(
        `${option} ${path} exists and is not a torchzero checkpoint; remove it or choose another path`,
      );
    }
  }
}

function writeProblem(error: unknown, dir: string): string {
  if (error instanceof Deno.errors.NotFound) return `the directory ${dir} does not exist`;
  if (error instanceof Deno.errors.NotADirectory) return `${dir} is not a directory`;
  if (error instanceof Deno.errors.PermissionDenied || /read-only/i.test(reason(error))) {
    return `the directory ${dir} is not writable`;
  }
  return `cannot write in ${dir}: ${reason(error)}`;
}

/** The OS's reason, without Deno's "(os error N)" and the repeated path. */
export function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/ \(os error \d+\).*$/, "");
}

function parent(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut < 0 ? "." : cut === 0 ? "/" : path.slice(0, cut);
}

function normalize(path: string): string {
  let p = path;
  if (!p.startsWith("/")) {
    try {
      p = `${Deno.cwd()}/${p}`;
    } catch {
      // no read permission for the working directory: compare as given
    }
  }
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return (p.startsWith("/") ? "/" : "") + out.join("/");
}

function samePath(a: string, b: string): boolean {
  return normalize(a) === normalize(b);
}
