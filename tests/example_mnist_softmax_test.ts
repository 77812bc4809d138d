// Knet's softmax classifier on real MNIST (examples/mnist_softmax.ts), CI-sized: one
// epoch. The full 10-epoch run (≥ 91.5%, Knet 91.53%) is bench/mnist_softmax.ts.

import assert from "node:assert/strict";
import { trainMnistSoftmax } from "../examples/mnist_softmax.ts";
import { counters } from "../src/gpu/counters.ts";
import { init } from "../src/tensor/device.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";

Deno.test({
  name: "mnist softmax: one epoch of SGD (batch 100, lr 0.5) reaches ≥ 90% test accuracy",
  ignore: !haveData("mnist"),
  ...GPU_TEST,
  fn: async () => {
    const device = (await haveGpu()) ? await init() : "cpu";
    const start = counters().hostSyncs;
    const syncs: number[] = [];
    const [acc] = await trainMnistSoftmax({
      epochs: 1,
      device,
      dir: new URL("mnist/", DATA_URL).pathname,
      onEpoch: () => syncs.push(counters().hostSyncs - start),
    });
    // Knet's run is at about 90% after its first epoch and 91.53% after ten.
    assert.ok(acc >= 0.9, `test accuracy ${acc}`);
    assert.ok(acc < 0.95, `a linear model cannot reach ${acc}: the evaluation is wrong`);
    // 600 training steps read nothing back; the epoch's one readback is the accuracy.
    assert.deepEqual(syncs, [device === "gpu" ? 1 : 0]);
  },
});
