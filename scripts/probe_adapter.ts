/**
 * Prints the WebGPU adapter denet would use and exits 0, or exits 1 when there is none.
 * Used by .ci/run to decide whether to install Mesa's software Vulkan driver.
 */

const adapter = await navigator.gpu?.requestAdapter();
if (!adapter) {
  console.error("no WebGPU adapter");
  Deno.exit(1);
}
console.log(`WebGPU adapter: ${adapter.info.description || adapter.info.vendor}`);
