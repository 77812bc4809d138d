/**
 * The CharLM row of bench/knet_table.ts: one timed window per framework (scaled to the
 * epoch) with denet and PyTorch from the same weights, and the tfjs peer's layout
 * conversion (tf.basicLSTMCell's kernel and gate order) checked on a small model against
 * denet's training on the same windows.
 */

import assert from "node:assert/strict";
import { main } from "../bench/knet_table.ts";
import { charlmWeights } from "../bench/peers/torch_charlm.ts";
import { tfjsCharLM } from "../bench/peers/tfjs_charlm.ts";
import { loadTfjs } from "../bench/peers/tfjs_train.ts";
import { torchInfo } from "../bench/peers/torch_train.ts";
import { CharLM } from "../src/app/charlm.ts";
import { trainCharLM } from "../src/app/charlm_train.ts";
import { bptt } from "../src/data/bptt.ts";
import { charCorpus } from "../src/data/text.ts";
import { init } from "../src/tensor/device.ts";
import { Rng } from "../src/tensor/random.ts";
import { assertClose, GPU_TEST } from "./_helpers.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";

const DATA = decodeURIComponent(DATA_URL.pathname).replace(/\/$/, "");

Deno.test({
  name: "knet_table --rows charlm --steps 1: denet and PyTorch time a window from the same weights",
  ignore: !haveData("text"),
  ...GPU_TEST,
  fn: async () => {
    const printed: string[] = [];
    const torch = (await torchInfo()).info !== null;
    const result = await main(
      [
        "--rows",
        "charlm",
        "--steps",
        "1",
        "--frameworks",
        "denet,pytorch",
        "--device",
        "cpu",
        "--data",
        DATA,
      ],
      (s) => printed.push(s),
    );
    const [row] = result.rows;
    assert.equal(row.spec.name, "charlm");
    assert.equal(row.stepsPerEpoch, 78);
    assert.deepEqual(row.results.map((r) => r.framework), torch ? ["denet", "pytorch"] : ["denet"]);
    const denet = row.results[0];
    for (const r of row.results) {
      assert.equal(r.steps, 1, r.framework);
      assert.match(r.note, /timed 1 of 78 windows, seconds scaled to the epoch/);
      const measured = Number(/\(([\d.]+) s measured\)/.exec(r.note)![1]);
      assertClose(
        [r.seconds],
        [measured * 78],
        { rtol: 1e-2, atol: 0.01 },
        `${r.framework} scaling`,
      );
      // The first window from Knet's initial weights: about ln 65 = 4.17 nats, the same in both.
      assertClose([r.finalLoss], [denet.finalLoss], { rtol: 1e-5, atol: 0 }, `${r.framework} loss`);
    }
    assert.ok(Math.abs(denet.finalLoss - Math.log(65)) < 0.1, `first loss ${denet.finalLoss}`);
    const text = printed.join("\n");
    assert.match(text, /\| CharLM \| Shakespeare \| 1 \| 128 \| 0.001 \| 2.25 \|/);
    assert.match(text, /CharLM: Adam \(lr 0.001\) over 78 windows of 128 streams × 100 characters/);
  },
});

Deno.test({
  name:
    "tfjs CharLM peer (basicLSTMCell, one-hot embedding) trains exactly as denet on the same windows",
  ...GPU_TEST,
  fn: async () => {
    await init({ device: "cpu" });
    const { tf, reason } = await loadTfjs("wasm");
    assert.ok(tf, reason);
    const corpus = charCorpus("the quick brown fox jumps over the lazy dog\n".repeat(20));
    const m = new CharLM(corpus.vocab, { embed: 6, hidden: 7, rng: new Rng(11) });
    const weights = await charlmWeights(m);
    const windows = bptt(corpus.data, 3, 5);
    const [d] = await trainCharLM(m, corpus.data, null, {
      batch: 3,
      seqLength: 5,
      lr: 0.01,
      stepsPerEpoch: 4,
      progressOutput: null,
    });
    const t = await tfjsCharLM(tf, weights, {
      windows: [0, 1, 2, 3].map((w) => windows.window(w)),
      batch: 3,
      seqLength: 5,
      lr: 0.01,
      warmupSteps: 0,
    });
    // 4 Adam steps with the carried state: the same mean loss up to f32 rounding.
    assertClose([t.finalLoss], [d.trainLoss], { rtol: 1e-5, atol: 0 }, "mean loss");
    m.dispose();
  },
});
