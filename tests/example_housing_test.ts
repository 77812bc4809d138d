// Knet's linear-regression example on the real Boston housing data (examples/housing.ts).

import assert from "node:assert/strict";
import { trainHousing } from "../examples/housing.ts";
import { init } from "../src/tensor/device.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";

const dir = new URL("housing/", DATA_URL).pathname;

Deno.test({
  name: "housing: 10 SGD steps (lr 0.1) take the loss from the hundreds to about 30, as in Knet",
  ignore: !haveData("housing"),
  fn: async () => {
    const losses = await trainHousing({ device: "cpu", dir });
    assert.equal(losses.length, 11);
    assert.ok(losses[0] > 300 && losses[0] < 1000, `initial loss ${losses[0]}`);
    for (let i = 1; i < losses.length; i++) {
      assert.ok(losses[i] < losses[i - 1], `loss rose at step ${i}: ${losses}`);
    }
    // Knet's documented run ends near 30 after 10 steps.
    assert.ok(losses[10] > 25 && losses[10] < 35, `final loss ${losses[10]}`);
  },
});

Deno.test({
  name: "housing: the GPU run follows the CPU run",
  ignore: !haveData("housing") || !(await haveGpu()),
  ...GPU_TEST,
  fn: async () => {
    await init();
    const cpu = await trainHousing({ device: "cpu", dir });
    const gpu = await trainHousing({ device: "gpu", dir });
    cpu.forEach((l, i) =>
      assert.ok(Math.abs(l - gpu[i]) <= 1e-4 * l, `step ${i}: ${l} vs ${gpu[i]}`)
    );
  },
});
