/**
 * Smoke test of bench/knet_table.ts: the `--quick` run of the LinReg and Softmax rows with
 * every framework this host has, checking the printed table, the JSON, that all frameworks
 * did the same work (same losses), and that denet's timed training synced with the host
 * only at its designed readbacks. Plus the tfjs layout conversion of LeNet, checked by
 * comparing its forward pass with denet's. The PyTorch column is in the run where torch is
 * importable (its losses must equal denet's too), else its skip note is checked;
 * tests/bench_peers_test.ts checks PyTorch's LeNet layouts and bench/cpu_gemm.ts.
 */

import assert from "node:assert/strict";
import { init } from "../internals.ts";
import { main } from "../bench/knet_table.ts";
import { initialWeights, knetModel, ROWS } from "../bench/knet_models.ts";
import { tfjsForward } from "../bench/peers/tfjs_train.ts";
import { torchInfo } from "../bench/peers/torch_train.ts";
import { fromArray } from "../src/tensor/create.ts";
import { mnist } from "../src/data/mnist.ts";
import { assertClose, GPU_TEST, haveGpu } from "./_helpers.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";

const DATA = decodeURIComponent(DATA_URL.pathname).replace(/\/$/, "");

Deno.test({
  name: "knet_table --quick: table, JSON, same losses, designed host syncs only",
  ignore: !(haveData("mnist") && haveData("housing")),
  ...GPU_TEST,
  fn: async () => {
    const gpu = await haveGpu();
    await init({ device: gpu ? "gpu" : "cpu" });
    const json = await Deno.makeTempFile({ suffix: ".json" });
    const printed: string[] = [];
    try {
      const result = await main(
        [
          "--quick",
          "--rows",
          "linreg,softmax",
          "--json",
          json,
          "--data",
          DATA,
          // init() alone picks the CPU backend on a software adapter: ask for the GPU.
          "--device",
          gpu ? "gpu" : "cpu",
        ],
        (s) => printed.push(s),
      );

      // Which frameworks ran: tfjs-webgpu exactly when this host has WebGPU, pytorch exactly
      // when torch is importable (else the notes say why it was skipped).
      const torch = (await torchInfo()).info !== null;
      const expected = [
        "denet",
        ...(gpu ? ["tfjs-webgpu"] : []),
        "tfjs-wasm",
        ...(torch ? ["pytorch"] : []),
      ];
      assert.equal(result.quick, true);
      assert.deepEqual(result.rows.map((r) => r.spec.name), ["linreg", "softmax"]);
      for (const row of result.rows) {
        assert.deepEqual(row.results.map((r) => r.framework), expected, row.spec.name);
        const denet = row.results[0];
        const linreg = row.spec.name === "linreg";
        assert.equal(row.epochs, linreg ? 20 : 2);
        assert.equal(row.stepsPerEpoch, linreg ? 1 : 3);
        for (const r of row.results) {
          const what = `${row.spec.name}/${r.framework}`;
          assert.equal(r.steps, linreg ? 20 : 6, what);
          // LinReg reads its loss once at the end; Softmax once per epoch.
          assert.equal(r.readbacks, linreg ? 1 : 2, what);
          assert.ok(r.seconds > 0 && Number.isFinite(r.seconds), `${what}: seconds ${r.seconds}`);
          // Same initial weights, same batches, same SGD: the same loss up to f32 rounding.
          assertClose([r.finalLoss], [denet.finalLoss], { rtol: 1e-4, atol: 0 }, `${what} loss`);
          if (linreg) assert.equal(r.testAccuracy, null, what);
          else {
            // 200 test images: identical predictions up to a near-tie or two.
            assert.ok(Math.abs(r.testAccuracy! - denet.testAccuracy!) <= 2 / 200, what);
          }
        }
        // Training happened: LinReg's MSE starts near 590 (mean MEDV² + variance), the
        // softmax's nll near ln 10 = 2.30.
        assert.ok(denet.finalLoss < (linreg ? 100 : 2.0), `${row.spec.name}: ${denet.finalLoss}`);
        if (!linreg) assert.ok(denet.testAccuracy! > 0.3, `softmax acc ${denet.testAccuracy}`);
        if (gpu) {
          assert.equal(denet.device, "gpu");
          // No host sync inside the epoch: exactly one per designed readback.
          assert.equal(denet.hostSyncs, denet.readbacks, `${row.spec.name} host syncs`);
          assert.ok(denet.dispatches! >= denet.steps * 3, `${row.spec.name} dispatches`);
        } else {
          assert.equal(denet.hostSyncs, null);
        }
      }

      // The printed markdown table: a header, a rule, one line per row, all the same width.
      const text = printed.join("\n");
      const lines = text.split("\n").filter((l) => l.startsWith("|"));
      assert.equal(lines.length, 4, text);
      const cells = (l: string) => l.split("|").slice(1, -1).map((c) => c.trim());
      const head = cells(lines[0]);
      assert.deepEqual(head.slice(0, 7), [
        "model",
        "dataset",
        "epochs",
        "batch",
        "lr",
        "Knet s",
        "denet s",
      ]);
      assert.ok(head.includes("tfjs-wasm s") && head.includes("denet syncs/epoch"), text);
      assert.equal(head.includes("tfjs-webgpu s"), gpu, text);
      for (const l of lines.slice(1)) assert.equal(cells(l).length, head.length, l);
      assert.deepEqual(cells(lines[2]).slice(0, 6), [
        "LinReg",
        "Housing",
        "20×1 steps",
        "506",
        "0.1",
        "2.84",
      ]);
      assert.deepEqual(cells(lines[3]).slice(0, 6), [
        "Softmax",
        "MNIST",
        "2×3 steps",
        "100",
        "0.5",
        "2.35",
      ]);
      if (gpu) assert.equal(cells(lines[3])[head.indexOf("denet syncs/epoch")], "1.00 (2 in all)");
      assert.match(text, /QUICK run/);
      if (torch) assert.match(text, /- PyTorch .* threads, BLAS_INFO /);
      else assert.match(text, /LinReg: pytorch skipped: PyTorch not importable/);

      // The JSON file holds the same result.
      const saved = JSON.parse(await Deno.readTextFile(json));
      assert.deepEqual(saved, JSON.parse(JSON.stringify(result)));
    } finally {
      await Deno.remove(json);
    }
  },
});

Deno.test({
  name: "tfjs LeNet (converted filters, flattening) computes denet's LeNet scores",
  ignore: !haveData("mnist"),
  ...GPU_TEST,
  fn: async () => {
    await init({ device: "cpu" });
    const n = 3;
    const { xtrn } = await mnist({ dir: `${DATA}/mnist` });
    const x = (xtrn.host() as Float32Array).subarray(0, n * 784);
    const weights = initialWeights("lenet", 7);
    const m = knetModel("lenet", weights, "cpu");
    const expected = m.predict(fromArray(x, { shape: [n, 1, 28, 28], device: "cpu" })).host();
    m.dispose();
    const got = await tfjsForward("wasm", ROWS.lenet, weights, x, n);
    assertClose(got, expected, { rtol: 1e-4, atol: 1e-5 }, "LeNet scores tfjs-wasm vs denet cpu");
  },
});
