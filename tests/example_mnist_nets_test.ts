// Knet's MLP and LeNet examples on real MNIST, CI-sized. The full runs with Knet's
// targets (MLP ≥ 97.3% after 10 epochs; LeNet ≥ 97% after 1 and ≥ 98.8% after 10) are
// `deno run -A bench/mnist_accuracy.ts mlp|lenet`.

import assert from "node:assert/strict";
import { trainLenetMnist } from "../examples/lenet_mnist.ts";
import { trainMlpMnist } from "../examples/mlp_mnist.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";
import { GPU_TEST } from "./_helpers.ts";

const dir = new URL("mnist/", DATA_URL).pathname;

Deno.test({
  name: "mlp mnist: one full epoch of SGD (lr 0.5) reaches ≥ 94% test accuracy",
  ignore: !haveData("mnist"),
  ...GPU_TEST,
  fn: async () => {
    const [acc] = await trainMlpMnist({ epochs: 1, dir });
    assert.ok(acc >= 0.94, `test accuracy ${acc}`);
  },
});

Deno.test({
  name: "lenet mnist: Adam on 2000 images (20 steps) reaches ≥ 70% on 1000 test images",
  ignore: !haveData("mnist"),
  ...GPU_TEST,
  fn: async () => {
    const [acc] = await trainLenetMnist({ epochs: 1, dir, limit: 2000, testLimit: 1000 });
    assert.ok(acc >= 0.7, `test accuracy ${acc}`);
  },
});
