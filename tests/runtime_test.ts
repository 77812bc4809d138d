/**
 * The GPU runtime: pipeline cache, buffer pool size classes and reuse, validation
 * errors reported with the kernel's name, device loss (a clear error, then `init()`
 * re-initialises), and the error before any initialisation.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import { UniformWriter } from "../src/gpu/uniforms.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();

Deno.test("runtime: size classes round up by at most a quarter, in 256-byte steps", () => {
  for (const bytes of [1, 255, 256, 257, 4096, 4097, 5000, 1 << 20, (1 << 20) + 1, 123_456_789]) {
    const c = dn.sizeClass(bytes);
    assert.ok(c >= bytes && c % 256 === 0, `${bytes} -> ${c}`);
    assert.ok(c <= Math.max(256, bytes * 1.25 + 256), `${bytes} -> ${c} wastes over 25%`);
  }
  assert.equal(dn.sizeClass(1000), dn.sizeClass(1024));
});

Deno.test({
  name: "runtime: pipelines compile once per specialisation; the pool recycles buffers",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const x = dn.randn([1000], { device: "gpu" });
    dn.exp(x).dispose();
    dn.relu(x).dispose();
    await dn.gpuRuntime().sync();
    dn.resetCounters();
    for (let i = 0; i < 20; i++) {
      dn.exp(x).dispose();
      dn.relu(x).dispose();
    }
    await dn.gpuRuntime().sync();
    const c = dn.counters();
    assert.equal(c.pipelinesCompiled, 0, "exp and relu pipelines were cached");
    assert.equal(c.dispatches, 40);
    assert.ok(c.poolHits >= 38, `pool hits ${c.poolHits}`);
    assert.ok(c.poolMisses <= 2, `pool misses ${c.poolMisses}`);
    x.dispose();
  },
});

Deno.test({
  name: "runtime: a validation error is thrown at the next sync with the kernel's name",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const rt = dn.gpuRuntime();
    const x = dn.randn([16], { device: "gpu" });
    const y = dn.zeros([16], { device: "gpu" });
    // Binding x as both the read-only input and the read_write output is invalid.
    rt.dispatch({
      kernel: "unary",
      constants: { OP: 0 },
      uniforms: new UniformWriter().u32(16).f32(0).build(),
      buffers: [x.buffer(), x.buffer()],
      workgroups: [1],
    });
    await assert.rejects(() => y.data(), /validation error[\s\S]*unary/);
    // The runtime stays usable afterwards.
    assert.deepEqual(Array.from(await dn.neg(dn.ones([2], { device: "gpu" })).data()), [-1, -1]);
    x.dispose();
    y.dispose();
  },
});

Deno.test({
  name: "runtime: device loss gives a clear error on next use; init() re-initialises",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const before = dn.gpuRuntime();
    const x = dn.ones([4], { device: "gpu" });
    before.device.destroy();
    await before.device.lost;
    // The lost callback runs in a microtask after the promise settles.
    await new Promise((r) => setTimeout(r, 0));
    assert.throws(() => dn.exp(x), /device was lost[\s\S]*init\(\)/);
    assert.throws(() => dn.ones([2], { device: "gpu" }), /device was lost/);
    assert.equal(await dn.init({ device: "gpu" }), "gpu");
    const after = dn.gpuRuntime();
    assert.notEqual(after, before);
    const y = dn.add(dn.ones([3], { device: "gpu" }), 1);
    assert.deepEqual(Array.from(await y.data()), [2, 2, 2]);
    assert.throws(() => dn.exp(x), /device was lost/, "tensors of the lost device stay unusable");
  },
});
