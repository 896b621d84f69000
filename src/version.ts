/**
 * The library's version, as published (`deno.json`'s `version`; a test keeps them equal).
 * Recorded in checkpoints and in the example's `--json` results.
 *
 * @module
 */

/** The package name and version, e.g. in a checkpoint's `torchzero.library` metadata. */
export const VERSION = "0.1.0";

/** The package name. */
export const PACKAGE = "@torchzero/torchzero";
