/**
 * Quick runs of the PyTorch peer and the CPU GEMM benchmark: PyTorch's LeNet (flipped
 * filters, transposed dense weights) trained on the same batches from the same weights ends
 * at denet's loss and accuracy (`bench/knet_table.ts --quick --rows lenet`), or, without
 * torch, the table's note says why the column was skipped; and `bench/cpu_gemm.ts` on small
 * sizes prints its peak and a GFLOP/s line per size.
 */

import assert from "node:assert/strict";
import { main as table } from "../bench/knet_table.ts";
import { cpuinfoGhz, main as gemm, simdPeak } from "../bench/cpu_gemm.ts";
import { torchInfo } from "../bench/peers/torch_train.ts";
import { init } from "../mod.ts";
import { assertClose, GPU_TEST } from "./_helpers.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";

const DATA = decodeURIComponent(DATA_URL.pathname).replace(/\/$/, "");

Deno.test({
  name: "knet_table --quick LeNet: pytorch ends at denet's loss (or is skipped with a note)",
  ignore: !haveData("mnist"),
  ...GPU_TEST,
  fn: async () => {
    await init({ device: "cpu" });
    const printed: string[] = [];
    const result = await table(
      [
        "--quick",
        "--rows",
        "lenet",
        "--frameworks",
        "denet,pytorch",
        "--device",
        "cpu",
        "--data",
        DATA,
      ],
      (s) => printed.push(s),
    );
    const text = printed.join("\n");
    const [row] = result.rows;
    const torch = (await torchInfo()).info;
    if (!torch) {
      assert.equal(row.results.length, 1);
      assert.match(text, /LeNet: pytorch skipped: PyTorch not importable .*setup_torch\.sh/);
      return;
    }
    const [denet, pt] = row.results;
    assert.equal(pt.framework, "pytorch");
    assert.equal(pt.steps, denet.steps);
    assert.equal(pt.readbacks, 2);
    assertClose([pt.finalLoss], [denet.finalLoss], { rtol: 1e-4, atol: 0 }, "LeNet loss");
    assert.ok(Math.abs(pt.testAccuracy! - denet.testAccuracy!) <= 2 / 200, text);
    assert.ok(torch.threads === navigator.hardwareConcurrency, JSON.stringify(torch));
    assert.match(text, /- PyTorch .* BLAS_INFO /);
  },
});

Deno.test({
  name: "cpu_gemm: peak formula, cpuinfo clock, quick run on small sizes",
  ...GPU_TEST,
  fn: async () => {
    assert.equal(cpuinfoGhz("cpu MHz\t\t: 2000.000\ncpu MHz\t\t: 3000.000\n"), 2.5);
    assert.equal(cpuinfoGhz("model name : x\n"), null);
    assert.equal(simdPeak(2, 2.5, 2, "t").gflops, 2 * 2.5 * 4 * 2 * 2);
    await init({ device: "cpu" });
    const printed: string[] = [];
    const r = await gemm(
      ["--sizes", "32,96", "--reps", "2", "--ghz", "2.5"],
      (s) => printed.push(s),
    );
    const text = printed.join("\n");
    assert.match(text, /Peak \(128-bit SIMD f32\) = \d+ cores × 2\.500 GHz \(--ghz\) × 4 lanes/);
    assert.deepEqual(r.rows.map((x) => x.n), [32, 96]);
    for (const x of r.rows) {
      assert.ok(x.denet > 0 && Number.isFinite(x.denet), text);
      assert.ok(x.tfjsWasm! > 0, text);
    }
    const torch = (await torchInfo()).info;
    if (torch) assert.ok(r.rows.every((x) => x.torch! > 0), text);
    else assert.match(text, /pytorch skipped/);
    assert.equal(text.split("\n").filter((l) => /^\| (32|96) \|/.test(l)).length, 2, text);
  },
});
