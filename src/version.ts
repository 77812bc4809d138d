/**
 * The package version (kept equal to deno.json's `version`; a test checks it).
 *
 * @module
 */

/** denet's version. */
export const VERSION = "0.1.0";
