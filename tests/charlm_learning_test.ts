// The CI-sized CharLM learning run (bench/charlm_learning.ts, reduced): a smaller LSTM on
// the first 300 000 characters of tinyshakespeare, 2 epochs on the CPU backend, beside
// PyTorch from the same weights, windows and optimizer.

import assert from "node:assert/strict";
import { runCharLMLearning } from "../bench/charlm_learning.ts";
import { torchInfo } from "../bench/peers/torch_train.ts";
import { init } from "../src/tensor/device.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";

const REQUIRE_TORCH = Deno.env.get("DENET_REQUIRE_TORCH") === "1";
const { info, reason } = await torchInfo();
if (!info && !REQUIRE_TORCH) console.warn(`charlm_learning_test: PyTorch side skipped: ${reason}`);

Deno.test({
  name:
    "CharLM learning (CI-sized): held-out loss ≤ 2.2 nats/char after 2 epochs, the same curve as PyTorch",
  ignore: !haveData("text"),
  fn: async () => {
    await init({ device: "cpu" });
    const r = await runCharLMLearning({
      embed: 64,
      hidden: 128,
      batch: 32,
      seqLength: 50,
      limit: 300_000,
      epochs: 2,
      all: true,
      target: 2.2,
      dataDir: new URL("text/", DATA_URL).pathname,
      log: () => {},
    });
    assert.equal(r.denet.length, 2);
    assert.equal(r.denet[0].steps, Math.floor(Math.floor((270_000 - 1) / 32) / 50));
    assert.ok(r.denet[1].heldOutLoss <= 2.2, `held-out after 2 epochs: ${r.denet[1].heldOutLoss}`);
    assert.equal(r.reachedAt, 2);
    if (REQUIRE_TORCH) {
      assert.equal(r.torchSkipped, "", "DENET_REQUIRE_TORCH=1 but torch did not run");
    }
    if (r.torchSkipped === "") {
      assert.equal(r.torch.length, 2);
      // Same weights, windows and optimizer: the curves agree far inside the benchmark's margin.
      r.denet.forEach((d, i) => {
        const t = r.torch[i];
        assert.ok(
          Math.abs(d.trainLoss - t.trainLoss) < 1e-3,
          `epoch ${d.epoch} train ${d.trainLoss} vs ${t.trainLoss}`,
        );
        assert.ok(
          Math.abs(d.heldOutLoss - t.heldOutLoss!) < 1e-3,
          `epoch ${d.epoch} held-out ${d.heldOutLoss} vs ${t.heldOutLoss}`,
        );
      });
      assert.deepEqual(r.worseThanTorch, []);
    }
  },
});
