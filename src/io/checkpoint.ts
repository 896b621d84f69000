/**
 * Checkpoints: a model's weights, its optimizer's and scheduler's state, the configuration that
 * made them and any metadata, in ONE safetensors file written atomically.
 *
 * The tensors of the file are the model's weights under torch names, so PyTorch loads them with
 * `model.load_state_dict(safetensors.torch.load_file(path), strict=True)`. Everything else is
 * string metadata beside them:
 *
 * | key                    | value                                                        |
 * | ---------------------- | ------------------------------------------------------------ |
 * | `format`               | `pt` (safetensors' convention for PyTorch weights)           |
 * | `torchzero.checkpoint` | the format version, `1`                                      |
 * | `torchzero.checksum`   | `sha256:` + the SHA-256 of the file with these 64 digits 0   |
 * | `torchzero.library`    | `@torchzero/torchzero 0.1.0`                                 |
 * | `torchzero.saved_at`   | ISO 8601 time of the save                                    |
 * | `torchzero.optimizer`  | the optimizer's structure (class, groups, wrapped ones)      |
 * | `torchzero.scheduler`  | the scheduler's class                                        |
 * | `torchzero.state`      | optimizer and scheduler state (exact JSON, arrays in base64) |
 * | `torchzero.config`     | the configuration, compared on load                         |
 * | `torchzero.metadata`   | anything else the caller saved (progress, results)           |
 *
 * The optimizer state lives in the header, which safetensors' own readers limit to 100 MB:
 * about 75 MB of optimizer state (a swarm of 10 over some 2 million parameters). This library's
 * reader has the same limit.
 *
 * @module
 */

import type { Module } from "../nn/module.ts";
import type { LRScheduler } from "../optim/first_order/_scheduler_base.ts";
import type { Optimizer, OptimizerStateDict } from "../optim/optimizer.ts";
import { PACKAGE, VERSION } from "../version.ts";
import {
  compareConfigs,
  compareModels,
  compareOptimizers,
  describeModel,
  describeOptimizer,
  type OptimizerDescription,
} from "./_describe.ts";
import { decodeState, encodeState } from "./_state_json.ts";
import { writeFileAtomic } from "./atomic.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type NamedTensor,
  plainBytes,
} from "./safetensors.ts";

export type { OptimizerDescription } from "./_describe.ts";

/** The checkpoint format version this library writes and reads. */
export const CHECKPOINT_VERSION = 1;

/** What {@linkcode saveCheckpoint} writes. */
export interface CheckpointContents {
  /** The model: its row-0 weights are saved under torch names. */
  model: Module;
  /** The optimizer (every kind, wrapped optimizers and swarm members included). */
  optimizer?: Optimizer<object> | null;
  /** A learning-rate scheduler of the optimizer. */
  scheduler?: LRScheduler | null;
  /** The configuration that made the run (plain data), checked by `loadCheckpoint`. */
  config?: Record<string, unknown>;
  /** Anything else to keep (plain data, typed arrays allowed): progress, results. */
  metadata?: unknown;
}

/** What {@linkcode loadCheckpoint} restores, and what it checks. */
export interface LoadCheckpointOptions {
  /** The model to load the weights into; its parameters must match by name and shape. */
  model?: Module;
  /** The optimizer to restore; it must have the saved optimizer's structure. */
  optimizer?: Optimizer<object> | null;
  /** The scheduler to restore; it must be of the saved scheduler's class. */
  scheduler?: LRScheduler | null;
  /** Expected configuration: every key given must equal the saved value. */
  config?: Record<string, unknown>;
}

/** What a checkpoint says about itself. */
export interface CheckpointInfo {
  /** Format version. */
  version: number;
  /** Library and version that wrote it. */
  library: string;
  /** When it was written (ISO 8601). */
  savedAt: string;
  /** The weights' names and shapes, in file order. */
  parameters: [string, number[]][];
  /** The optimizer's structure, or null when none was saved. */
  optimizer: OptimizerDescription | null;
  /** The scheduler's class, or null. */
  scheduler: string | null;
  /** The saved configuration, or null. */
  config: Record<string, unknown> | null;
  /** The saved metadata, or null. */
  metadata: unknown;
}

/** A checkpoint that cannot be read or does not fit what it is loaded into. */
export class CheckpointError extends Error {
  /** The checkpoint file. */
  readonly path: string;

  /**
   * An error about one checkpoint file.
   *
   * @param path the checkpoint file.
   * @param message what is wrong, naming the file.
   * @param options the underlying error, if any.
   */
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CheckpointError";
    this.path = path;
  }
}

const KEY = {
  version: "torchzero.checkpoint",
  checksum: "torchzero.checksum",
  library: "torchzero.library",
  savedAt: "torchzero.saved_at",
  optimizer: "torchzero.optimizer",
  scheduler: "torchzero.scheduler",
  state: "torchzero.state",
  config: "torchzero.config",
  metadata: "torchzero.metadata",
} as const;
const BLANK = "sha256:" + "0".repeat(64);

/**
 * Saves a checkpoint to `path` as one file, atomically (temporary file, fsync, rename): a
 * crash or a full disk at any moment leaves the previous checkpoint at `path` intact.
 * Reads the weights and the optimizer state from the GPU (a few readbacks).
 *
 * @param path the file; `.safetensors` is the usual extension.
 * @param contents the model, and optionally its optimizer, scheduler, config and metadata.
 * @throws {TypeError} for a config or metadata value that cannot be stored (a bigint, a cycle).
 * @throws {Error} from the file system (missing directory, permission, no space); the
 *   previous file is unchanged.
 * @example
 * ```ts ignore
 * await saveCheckpoint("run.safetensors", { model, optimizer: opt, config: { lr: 1e-3 } });
 * ```
 */
export async function saveCheckpoint(path: string, contents: CheckpointContents): Promise<void> {
  await writeFileAtomic(path, await encodeCheckpoint(contents));
}

/**
 * The bytes {@linkcode saveCheckpoint} writes, for checkpoints kept elsewhere than in a file
 * (the distributed run's snapshots); {@linkcode loadCheckpointBytes} loads them.
 *
 * @param contents the model, and optionally its optimizer, scheduler, config and metadata.
 * @returns one safetensors file's bytes, checksum stamped.
 * @throws {TypeError} for a config or metadata value that cannot be stored.
 */
export async function encodeCheckpoint(contents: CheckpointContents): Promise<Uint8Array> {
  const { model, optimizer = null, scheduler = null } = contents;
  const weights = await model.stateDict();
  const tensors: Record<string, NamedTensor> = {};
  for (const [name, p] of model.namedParameters()) {
    tensors[name] = { shape: p.shape, data: weights[name] };
  }
  const state: { optimizer: OptimizerStateDict | null; scheduler: unknown } = {
    optimizer: optimizer === null ? null : await optimizer.stateDict(),
    scheduler: scheduler === null ? null : scheduler.stateDict(),
  };
  const metadata: Record<string, string> = {
    format: "pt",
    [KEY.checksum]: BLANK,
    [KEY.version]: String(CHECKPOINT_VERSION),
    [KEY.library]: `${PACKAGE} ${VERSION}`,
    [KEY.savedAt]: new Date().toISOString(),
    [KEY.state]: encodeState(state),
  };
  if (optimizer !== null) metadata[KEY.optimizer] = JSON.stringify(describeOptimizer(optimizer));
  if (scheduler !== null) metadata[KEY.scheduler] = schedulerName(scheduler);
  if (contents.config !== undefined) metadata[KEY.config] = encodeState(contents.config);
  if (contents.metadata !== undefined) metadata[KEY.metadata] = encodeState(contents.metadata);
  return await stampChecksum(encodeSafetensors(tensors, metadata));
}

/**
 * Writes the SHA-256 of `bytes` (a safetensors file whose `torchzero.checksum` is 64 zeros)
 * into its checksum entry, in place.
 *
 * @internal
 */
export async function stampChecksum(bytes: Uint8Array): Promise<Uint8Array> {
  const at = checksumOffset(bytes, BLANK);
  bytes.set(new TextEncoder().encode(await sha256(bytes)), at);
  return bytes;
}

/**
 * Reads and verifies a checkpoint without loading it anywhere (no GPU needed): its format
 * version, checksum, the library that wrote it, the saved structure, config and metadata.
 *
 * @param path the checkpoint file.
 * @returns what the checkpoint says about itself.
 * @throws {CheckpointError} for a missing or unreadable file, a file that is not a checkpoint,
 *   a newer format version, or a damaged file (checksum mismatch).
 * @example
 * ```ts ignore
 * const { config, metadata } = await readCheckpoint("run.safetensors");
 * ```
 */
export async function readCheckpoint(path: string): Promise<CheckpointInfo> {
  return (await openCheckpoint(path)).info;
}

/**
 * Loads a checkpoint written by {@linkcode saveCheckpoint}: the weights into `model` (row 0),
 * the state into `optimizer` and `scheduler`. Everything is checked before anything is
 * changed: the file's checksum and format version, the model's parameter names and shapes,
 * the optimizer's structure (class, groups, wrapped optimizers, swarm members), the
 * scheduler's class and the expected `config`. Only what is passed is loaded: a model alone
 * takes the weights of any checkpoint (or of a plain safetensors file, e.g. from PyTorch).
 *
 * @param path the checkpoint file.
 * @param options what to load into and what to expect.
 * @returns what the checkpoint says about itself (config, metadata, ...).
 * @throws {CheckpointError} naming the file and the difference: unreadable, not a checkpoint,
 *   damaged, a newer format, another architecture, optimizer, scheduler or configuration.
 * @example
 * ```ts ignore
 * const model = mnistCnn();
 * const opt = new RandomGrad(model.parameters(), { magn: 1e-5, opt: new AdamW(...) });
 * const { metadata } = await loadCheckpoint("run.safetensors", { model, optimizer: opt });
 * ```
 */
export async function loadCheckpoint(
  path: string,
  options: LoadCheckpointOptions,
): Promise<CheckpointInfo> {
  return applyCheckpoint(await openCheckpoint(path, options), path, options);
}

/**
 * Loads checkpoint bytes, as {@linkcode loadCheckpoint} loads a file: the same checks, the
 * same errors. For checkpoints that never touch the disk — the distributed workers receive
 * their snapshot from the NATS object store.
 *
 * @param bytes what {@linkcode encodeCheckpoint} (or a checkpoint file) holds.
 * @param options what to load into and what to expect.
 * @param name names the bytes in errors (a file name, an object store key).
 * @returns what the checkpoint says about itself.
 * @throws {CheckpointError} as {@linkcode loadCheckpoint}, naming `name`.
 */
export async function loadCheckpointBytes(
  bytes: Uint8Array,
  options: LoadCheckpointOptions,
  name = "checkpoint bytes",
): Promise<CheckpointInfo> {
  return applyCheckpoint(await decodeCheckpoint(bytes, name, options), name, options);
}

function applyCheckpoint(
  { info, tensors, state }: Opened,
  path: string,
  options: LoadCheckpointOptions,
): CheckpointInfo {
  const { model, optimizer = null, scheduler = null } = options;
  const fail = (what: string, differences: string[]) =>
    new CheckpointError(path, `${path} was saved from ${what}: ${differences.join("; ")}`);
  if (model !== undefined) {
    const differences = compareModels(info.parameters, describeModel(model));
    if (differences.length > 0) throw fail("another model", differences);
  }
  if (optimizer !== null) {
    if (info.optimizer === null) throw fail("no optimizer", ["it holds weights only"]);
    const differences = compareOptimizers(info.optimizer, describeOptimizer(optimizer));
    if (differences.length > 0) throw fail("another optimizer", differences);
  }
  if (scheduler !== null && info.scheduler !== schedulerName(scheduler)) {
    throw fail("another scheduler", [
      `the scheduler is ${info.scheduler ?? "absent"} in the checkpoint, ${
        schedulerName(scheduler)
      } here`,
    ]);
  }
  if (options.config !== undefined) {
    const differences = compareConfigs(info.config, options.config);
    if (differences.length > 0) throw fail("another configuration", differences);
  }
  try {
    if (model !== undefined) {
      model.loadStateDict(Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, t.data])));
    }
    if (optimizer !== null) optimizer.loadStateDict(state!.optimizer as OptimizerStateDict);
    if (scheduler !== null) {
      scheduler.loadStateDict(state!.scheduler as ReturnType<LRScheduler["stateDict"]>);
    }
  } catch (error) {
    throw new CheckpointError(path, `${path}: ${(error as Error).message}`, { cause: error });
  }
  return info;
}

interface Opened {
  info: CheckpointInfo;
  tensors: Record<string, NamedTensor>;
  state: { optimizer: unknown; scheduler: unknown } | null;
}

async function openCheckpoint(path: string, wants: LoadCheckpointOptions = {}): Promise<Opened> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new CheckpointError(path, readFailure(path, error), { cause: error });
  }
  return await decodeCheckpoint(bytes, path, wants);
}

/**
 * Decodes and verifies checkpoint bytes.
 *
 * @internal
 */
export async function decodeCheckpoint(
  input: Uint8Array,
  path: string,
  wants: LoadCheckpointOptions = {},
): Promise<Opened> {
  const bytes = plainBytes(input);
  let file;
  try {
    file = decodeSafetensors(bytes, path);
  } catch (error) {
    throw new CheckpointError(path, (error as Error).message, { cause: error });
  }
  const { tensors, metadata: m } = file;
  const parameters = Object.entries(tensors).map(([n, t]) =>
    [n, [...t.shape]] as [string, number[]]
  );
  const ours = Object.keys(m).some((k) => k.startsWith("torchzero."));
  if (!ours) {
    // A plain safetensors file (PyTorch's, or weights exported elsewhere): weights only.
    if (wants.optimizer || wants.scheduler || wants.config !== undefined) {
      throw new CheckpointError(
        path,
        `${path} is a safetensors file of weights, not a torchzero checkpoint: it holds no optimizer state or configuration`,
      );
    }
    const info: CheckpointInfo = {
      version: 0,
      library: "",
      savedAt: "",
      parameters,
      optimizer: null,
      scheduler: null,
      config: null,
      metadata: null,
    };
    return { info, tensors, state: null };
  }
  const digest = m[KEY.checksum];
  if (typeof digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw damaged(path, "its checksum entry is missing or malformed");
  }
  const copy = bytes.slice();
  let at: number;
  try {
    at = checksumOffset(copy, digest);
  } catch {
    throw damaged(path, "its checksum entry cannot be located");
  }
  copy.set(new TextEncoder().encode(BLANK), at - "sha256:".length);
  if ((await sha256(copy)) !== digest.slice("sha256:".length)) {
    throw damaged(path, "its SHA-256 checksum does not match its contents");
  }
  const version = Number(m[KEY.version]);
  if (!Number.isInteger(version) || version < 1) throw damaged(path, "it has no format version");
  if (version > CHECKPOINT_VERSION) {
    throw new CheckpointError(
      path,
      `${path} has checkpoint format ${version}, written by ${
        m[KEY.library] ?? "a newer library"
      }; this library (${VERSION}) reads format ${CHECKPOINT_VERSION}`,
    );
  }
  let state: Opened["state"];
  const parse = (
    key: string,
  ) => (m[key] === undefined ? null : decodeState(m[key], `${path} ${key}`));
  let info: CheckpointInfo;
  try {
    state = parse(KEY.state) as Opened["state"];
    info = {
      version,
      library: m[KEY.library] ?? "",
      savedAt: m[KEY.savedAt] ?? "",
      parameters,
      optimizer: m[KEY.optimizer] === undefined ? null : JSON.parse(m[KEY.optimizer]),
      scheduler: m[KEY.scheduler] ?? null,
      config: parse(KEY.config) as Record<string, unknown> | null,
      metadata: parse(KEY.metadata),
    };
  } catch (error) {
    throw damaged(path, (error as Error).message);
  }
  return { info, tensors, state };
}

function damaged(path: string, why: string): CheckpointError {
  return new CheckpointError(path, `${path} is damaged and was not loaded: ${why}`);
}

function readFailure(path: string, error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return `${path}: no such checkpoint file`;
  if (error instanceof Deno.errors.IsADirectory) return `${path} is a directory, not a checkpoint`;
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return `${path} cannot be read: permission denied`;
  }
  return `${path} cannot be read: ${(error as Error).message}`;
}

function schedulerName(scheduler: LRScheduler): string {
  return String((scheduler.stateDict() as { scheduler?: unknown }).scheduler ?? "LRScheduler");
}

/** Byte offset of the 64 hex digits of `"torchzero.checksum":"<digest>"` in the header. */
function checksumOffset(bytes: Uint8Array, digest: string): number {
  const needle = new TextEncoder().encode(`"${KEY.checksum}":"${digest}"`);
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const end = Math.min(bytes.length, 8 + length) - needle.length;
  let found = -1;
  outer: for (let i = 8; i <= end; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    if (found >= 0) throw new Error("the checksum entry appears twice");
    found = i;
  }
  if (found < 0) throw new Error("no checksum entry");
  return found + needle.length - 1 - 64;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
