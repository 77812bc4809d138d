/**
 * The check every options object goes through: a name that the function does not take
 * (a typo such as `maxtime`) is an Error, never silently ignored.
 *
 * @module
 */

/**
 * Throws an Error naming `who` and the first key of `opts` that is not in `known`, with
 * the known name it likely meant (`maxtime` → `maxTime`) and the full list. Keys whose
 * value is undefined count too (they are typos all the same).
 */
export function checkOptionNames(who: string, opts: object, known: readonly string[]): void {
  for (const k of Object.keys(opts)) {
    if (known.includes(k)) continue;
    const near = known.find((n) => n.toLowerCase() === k.toLowerCase());
    throw new Error(
      `${who}: unknown option '${k}'${near ? ` (did you mean '${near}'?)` : ""}; ${who} takes ` +
        known.join(", "),
    );
  }
}
