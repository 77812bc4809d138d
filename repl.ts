/**
 * Preloaded by `deno task repl`: denet's API as globals (and as `dn`), the GPU
 * initialised when an adapter is found. GPU results print their values once read back:
 * `await show(x)` reads them (one host sync) and returns `x`, which then prints with its
 * numbers; CPU tensors print their values anyway.
 */

import * as dn from "./mod.ts";
import { describeDevice } from "./src/app/device_summary.ts";

await dn.init();
Object.assign(globalThis, dn, { dn });
console.log(
  `denet ${dn.VERSION} on ${describeDevice()}.\n` +
    "Try: const x = randn([3, 4]); await show(softmax(x))",
);
