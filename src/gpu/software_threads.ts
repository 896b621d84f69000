/**
 * Threads of Mesa's software adapter (llvmpipe, in both its Vulkan and GL flavours), which
 * reads them from the `LP_NUM_THREADS` environment variable when the first adapter of the
 * process is created; other adapters ignore the variable.
 *
 * Why more threads than CPUs: llvmpipe splits every dispatch's workgroups into one contiguous
 * share per thread, handed out as the threads wake. With one thread per CPU, a thread the
 * operating system delays (Deno's own threads share the CPUs, and a virtual CPU can be
 * descheduled) holds back the whole dispatch while the other CPUs idle. With twice as many
 * threads the shares are half as long and a delayed one is picked up by whichever CPU is free.
 * Small dispatches (a forward of one parameter row) suffer most; results do not change, since
 * every invocation computes its outputs alone. Measured in bench/README.md.
 *
 * @module
 */

/** The environment variable llvmpipe reads its thread count from. */
export const LP_NUM_THREADS = "LP_NUM_THREADS";

/** Threads per logical CPU of the `"auto"` setting. */
export const THREADS_PER_CPU = 2;

/**
 * How many threads Mesa's software adapter runs kernels on: a count, or `"auto"` (twice the
 * logical CPUs, applied only when `LP_NUM_THREADS` is unset and the process may set it).
 */
export type SoftwareThreads = number | "auto";

/** What the process lets the library see and do with `LP_NUM_THREADS`. */
export interface ThreadsEnvironment {
  /** True when the process may read and write the variable (`--allow-env`). */
  mayWrite: boolean;
  /** The variable's value, when it is set and readable. */
  current: string | undefined;
  /** Logical CPUs (`navigator.hardwareConcurrency`). */
  cpus: number;
}

/**
 * The value to give `LP_NUM_THREADS` before the first adapter request, or undefined to leave
 * the environment alone: a count is always applied, `"auto"` only when the variable is unset
 * (a value chosen by the user wins) and may be written.
 *
 * @param option the `softwareThreads` option; undefined means `"auto"`.
 * @param env what the process allows and what is set.
 * @returns the thread count to write, or undefined.
 * @throws {RangeError} if a count is not an integer from 1 to 1024.
 * @throws {Error} if a count is given but the variable may not be written.
 * @example
 * ```ts ignore
 * planSoftwareThreads("auto", { mayWrite: true, current: undefined, cpus: 2 }); // 4
 * planSoftwareThreads("auto", { mayWrite: true, current: "3", cpus: 2 }); // undefined (kept)
 * ```
 */
export function planSoftwareThreads(
  option: SoftwareThreads | undefined,
  env: ThreadsEnvironment,
): number | undefined {
  if (option === undefined || option === "auto") {
    if (!env.mayWrite || env.current !== undefined) return undefined;
    return THREADS_PER_CPU * Math.max(1, Math.floor(env.cpus) || 1);
  }
  checkCount(option);
  if (!env.mayWrite) {
    throw new Error(
      `Gpu.create: softwareThreads ${option} sets ${LP_NUM_THREADS}, which needs --allow-env=${LP_NUM_THREADS}` +
        ` (or set ${LP_NUM_THREADS}=${option} in the shell and leave the option out)`,
    );
  }
  return option;
}

function checkCount(option: number): void {
  if (!Number.isInteger(option) || option < 1 || option > 1024) {
    throw new RangeError(
      `Gpu.create: softwareThreads must be "auto" or an integer from 1 to 1024, received ${option}`,
    );
  }
}

/** The environment as this process sees it (no permission prompt). */
function threadsEnvironment(): ThreadsEnvironment {
  const cpus = typeof navigator === "undefined" ? 1 : navigator.hardwareConcurrency ?? 1;
  if (typeof Deno === "undefined" || Deno.permissions?.querySync === undefined) {
    return { mayWrite: false, current: undefined, cpus };
  }
  const state = Deno.permissions.querySync({ name: "env", variable: LP_NUM_THREADS }).state;
  if (state !== "granted") return { mayWrite: false, current: undefined, cpus };
  return { mayWrite: true, current: Deno.env.get(LP_NUM_THREADS), cpus };
}

/**
 * Applies {@linkcode planSoftwareThreads} to this process's environment.
 *
 * @returns the thread count llvmpipe will read, when known (set here or readable), else null.
 */
function applySoftwareThreads(option: SoftwareThreads | undefined): number | null {
  const env = threadsEnvironment();
  const value = planSoftwareThreads(option, env);
  if (value !== undefined) {
    Deno.env.set(LP_NUM_THREADS, String(value));
    return value;
  }
  const current = Number(env.current);
  return env.current !== undefined && Number.isInteger(current) && current > 0 ? current : null;
}

/** What the first adapter request of this process applied (Mesa reads the variable once). */
let first: { threads: number | null } | null = null;

/**
 * {@linkcode applySoftwareThreads} for the first adapter request of the process; later requests
 * get the same answer, since Mesa does not read the variable again.
 *
 * @throws {Error} if a later request asks for a different count.
 * @throws {RangeError} for a count that is not an integer from 1 to 1024.
 */
export function softwareThreadsOnce(option: SoftwareThreads | undefined): number | null {
  if (first === null) {
    first = { threads: applySoftwareThreads(option) };
  } else if (typeof option === "number") {
    checkCount(option);
    if (option === first.threads) return first.threads;
    const read = first.threads ?? "Mesa's default";
    throw new Error(
      `Gpu.create: softwareThreads ${option} comes too late: Mesa read ${LP_NUM_THREADS} when ` +
        `this process requested its first adapter (${read}); pass it to the first initGpu() or ` +
        `Gpu.create()`,
    );
  }
  return first.threads;
}
