/**
 * Known values: the RNN layer against PyTorch's nn.RNN / nn.LSTM / nn.GRU with the same
 * weights (tests/fixtures/rnn_torch.py, Debian's python3-torch at /usr/bin/python3), for
 * every type × {1, 2 layers} × {uni, bidirectional} × {fixed batch, batchSizes}:
 * outputs and final states agree to 1e-5. Skips with a message when torch is absent,
 * unless DENET_REQUIRE_TORCH=1 (CI), where that fails.
 */

import assert from "node:assert/strict";
import * as dn from "../mod.ts";
import { RNN, type RnnMode, Tensor } from "../mod.ts";
import { assertClose } from "./_helpers.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./fixtures/rnn_torch.py", import.meta.url).pathname;
const REQUIRE_TORCH = Deno.env.get("DENET_REQUIRE_TORCH") === "1";

async function haveTorch(): Promise<boolean> {
  let why: string;
  try {
    const r = await new Deno.Command(PYTHON, { args: ["-c", "import torch"], stderr: "piped" })
      .output();
    if (r.success) return true;
    why = new TextDecoder().decode(r.stderr).trim().split("\n").pop() ?? "";
  } catch (e) {
    why = (e as Error).message;
  }
  if (REQUIRE_TORCH) {
    throw new Error(`DENET_REQUIRE_TORCH=1 but ${PYTHON} cannot import torch: ${why}`);
  }
  console.warn(
    `rnn_torch_test skipped: ${PYTHON} cannot import torch (${why}); install python3-torch`,
  );
  return false;
}

/** Runs the cases through PyTorch. */
async function torchRun(cases: unknown[]): Promise<{ y: number[]; hy: number[]; cy: number[] }[]> {
  const p = new Deno.Command(PYTHON, {
    args: [SCRIPT],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(cases)));
  await w.close();
  const r = await p.output();
  if (!r.success) throw new Error(`rnn_torch.py failed: ${new TextDecoder().decode(r.stderr)}`);
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

function rand(n: number, seed: number, s = 1): Float32Array {
  const r = new dn.Rng(seed);
  return Float32Array.from({ length: n }, () => (2 * r.uniform() - 1) * s);
}

const TOL = { rtol: 1e-5, atol: 1e-5 };

Deno.test("rnn vs PyTorch: outputs and final states agree to 1e-5 (every type, layers, directions, batchSizes)", async () => {
  if (!(await haveTorch())) return;
  const X = 5, H = 6, T = 4, B = 3;
  const cases: Record<string, unknown>[] = [];
  const ours: { y: Float32Array; hy: Float32Array; cy: Float32Array | null; what: string }[] = [];
  let seed = 1;
  for (const mode of ["relu", "tanh", "lstm", "gru"] as RnnMode[]) {
    for (const L of [1, 2]) {
      for (const bi of [false, true]) {
        for (const packed of [false, true]) {
          const dirs = bi ? 2 : 1;
          const r = new RNN(X, H, {
            rnnType: mode,
            numLayers: L,
            bidirectional: bi,
            device: "cpu",
          });
          for (const p of dn.params(r)) p.host().set(rand(p.size, seed++, 0.5));
          const bs = packed ? [3, 3, 2, 1] : Array(T).fill(B);
          const N = bs.reduce((a: number, b: number) => a + b, 0);
          const x = rand(N * X, seed++);
          const h0 = rand(L * dirs * bs[0] * H, seed++, 0.5);
          const c0 = rand(L * dirs * bs[0] * H, seed++, 0.5);
          cases.push({
            mode,
            L,
            bi,
            X,
            H,
            batchSizes: bs,
            x: [...x],
            h0: [...h0],
            c0: [...c0],
            params: r.weights.flat().map((w) => ({
              W: [...w.W!.host()],
              R: [...w.R.host()],
              bW: [...w.bW.host()],
              bR: [...w.bR.host()],
            })),
          });
          r.h = new Tensor([L * dirs, bs[0], H], "f32", h0.slice());
          if (mode === "lstm") r.c = new Tensor([L * dirs, bs[0], H], "f32", c0.slice());
          const y = packed
            ? r.forward(new Tensor([N, X], "f32", x), { batchSizes: bs })
            : r.forward(new Tensor([T, B, X], "f32", x));
          ours.push({
            y: Float32Array.from(y.host()),
            hy: Float32Array.from((r.h as Tensor).host()),
            cy: mode === "lstm" ? Float32Array.from((r.c as Tensor).host()) : null,
            what: `${mode} L=${L} ${bi ? "bi" : "uni"} ${packed ? "batchSizes" : "fixed"}`,
          });
          r.dispose();
        }
      }
    }
  }
  const theirs = await torchRun(cases);
  assert.equal(theirs.length, ours.length);
  ours.forEach((o, i) => {
    assertClose(o.y, theirs[i].y, TOL, `${o.what}: y`);
    assertClose(o.hy, theirs[i].hy, TOL, `${o.what}: h`);
    if (o.cy) assertClose(o.cy, theirs[i].cy, TOL, `${o.what}: c`);
  });
});
