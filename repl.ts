/**
 * Preloaded by `deno task repl`: denet's API as globals (and as `dn`), the GPU
 * initialised when an adapter is found.
 */

import * as dn from "./mod.ts";

const device = await dn.init();
Object.assign(globalThis, dn, { dn });
console.log(
  `denet ready on the ${device} (${
    device === "gpu" ? dn.gpuRuntime().info.description : "no GPU"
  }). Try: const x = randn([3, 4]); softmax(x)`,
);
