/**
 * How the examples run as scripts: `await mainOf(import.meta.url, async () => {...})`
 * runs the body and turns any error into one line on stderr (the script's name and the
 * message, e.g. a missing data file and where to get it) and exit code 1, instead of a
 * stack trace.
 *
 * @module
 */

/** Runs `body`; on an error prints `<script>: <message>` and exits with code 1. */
export async function mainOf(url: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const name = url.slice(url.lastIndexOf("/") + 1);
    console.error(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
}
