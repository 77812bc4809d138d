/**
 * NaN propagates as in Julia/Knet (issue 16, bad case 1): activations, maximum/minimum,
 * max/min/argmax/argmin reductions (every GPU path: chunked rows, the strided middle-axis
 * path, many short rows), max pooling and accuracy, on the CPU and the GPU.
 */

import assert from "node:assert/strict";
import * as dn from "../mod.ts";
import { UNARY_OPS, type UnaryOpName } from "../src/ops/elementwise.ts";
import { unary } from "../src/ops/elementwise.ts";
import { assertExact, GPU_TEST, haveGpu, onGpuProfiles } from "./_helpers.ts";

const gpu = await haveGpu();
const devices: ("cpu" | "gpu")[] = gpu ? ["cpu", "gpu"] : ["cpu"];

function on(device: "cpu" | "gpu", data: number[], shape?: number[]): dn.Tensor {
  return dn.fromArray(data, { shape: shape ?? [data.length], device });
}

for (const device of devices) {
  const opts = device === "gpu" ? GPU_TEST : {};

  Deno.test({
    name:
      `nan ${device}: the probe's relu([1, NaN, -3]) is [1, NaN, 0]; every activation keeps NaN`,
    ...opts,
    fn: async () => {
      assertExact(await dn.relu(on(device, [1, NaN, -3])).data(), [1, NaN, 0], "relu");
      // 1000 elements: the vec4 path, NaN in every lane position.
      const xs = Array.from({ length: 1000 }, (_, i) => (i % 7 === 3 ? NaN : (i % 5) - 2));
      for (const name of Object.keys(UNARY_OPS) as UnaryOpName[]) {
        const y = await unary(name, on(device, xs)).data();
        xs.forEach((v, i) => {
          if (Number.isNaN(v)) assert.ok(Number.isNaN(y[i]), `${name}(NaN) at ${i} is ${y[i]}`);
        });
      }
    },
  });

  Deno.test({
    name: `nan ${device}: maximum/minimum with NaN on either side (tensors and scalars)`,
    ...opts,
    fn: async () => {
      const a = on(device, [1, NaN, 3, NaN]);
      const b = on(device, [NaN, 2, 1, NaN]);
      for (const f of [dn.maximum, dn.minimum]) {
        assertExact(await f(a, b).data(), [NaN, NaN, f === dn.maximum ? 3 : 1, NaN], "pair");
        assertExact(await f(a, 0).data(), [
          f === dn.maximum ? 1 : 0,
          NaN,
          f === dn.maximum ? 3 : 0,
          NaN,
        ], "scalar");
        assertExact(await f(NaN, a).data(), [NaN, NaN, NaN, NaN], "NaN scalar");
      }
    },
  });

  Deno.test({
    name: `nan ${device}: max/min are NaN and argmax/argmin the first NaN, on every reduce path`,
    ...opts,
    fn: async () => {
      // The probe's max([1, NaN, 3]) = 3.
      const x = on(device, [1, NaN, 3]);
      assertExact(await dn.max(x).data(), [NaN], "max");
      assertExact(await dn.min(x).data(), [NaN], "min");
      assertExact(await dn.argmax(x).data(), [1], "argmax");
      assertExact(await dn.argmin(x).data(), [1], "argmin");
      // One long row (chunked on the GPU): NaNs at 70 001 and 90 000, a larger value after.
      const n = 100_003;
      const long = Array.from({ length: n }, (_, i) => (i * 37) % 1000);
      long[70_001] = NaN;
      long[90_000] = NaN;
      long[95_000] = 5000;
      const t = on(device, long);
      assertExact(await dn.max(t).data(), [NaN], "long max");
      assertExact(await dn.argmax(t).data(), [70_001], "long argmax");
      assertExact(await dn.argmin(t).data(), [70_001], "long argmin");
      // Many short rows and a middle axis (the strided path): [300, 5, 4], axis 1.
      const m = Array.from({ length: 300 * 20 }, (_, i) => (i * 7) % 11);
      m[4 * 20 + 2 * 4 + 1] = NaN; // row (4, ·, 1), j = 2
      m[4 * 20 + 3 * 4 + 1] = NaN; // same output, j = 3
      m[299 * 20 + 19] = NaN; // (299, 4, 3)
      const t3 = on(device, m, [300, 5, 4]);
      const [mx, am, mn2] = await dn.readAll([dn.max(t3, 1), dn.argmax(t3, 1), dn.min(t3, 2)]);
      assert.ok(Number.isNaN(mx[4 * 4 + 1]) && Number.isNaN(mx[299 * 4 + 3]), "strided max");
      assert.equal(am[4 * 4 + 1], 2, "strided argmax: the first NaN");
      assert.equal(am[299 * 4 + 3], 4, "strided argmax");
      assert.ok(Number.isNaN(mn2[4 * 5 + 2]) && Number.isNaN(mn2[299 * 5 + 4]), "short rows min");
      assert.equal(mx.filter(Number.isNaN).length, 2, "no other output is NaN");
      // vec4 rows ([3, 1000]: NaNs at 501 and 503 of row 1, within vec4s) and gathered rows
      // ([4, 3, 50] over axes 0 and 2: NaN at (2, 1, 7) and (3, 1, 0), flat 107 and 150).
      const r4 = Array.from({ length: 3000 }, (_, i) => (i * 13) % 17);
      r4[1000 + 503] = NaN;
      r4[1000 + 501] = NaN;
      const g = Array.from({ length: 600 }, (_, i) => (i * 5) % 9);
      g[2 * 150 + 1 * 50 + 7] = NaN;
      g[3 * 150 + 1 * 50 + 0] = NaN;
      // On the GPU under both profiles (serial and tree combines).
      const check = async (what: string) => {
        const [vx, va, gx, ga] = await dn.readAll([
          dn.max(on(device, r4, [3, 1000]), 1),
          dn.argmin(on(device, r4, [3, 1000]), 1),
          dn.max(on(device, g, [4, 3, 50]), [0, 2]),
          dn.argmax(on(device, g, [4, 3, 50]), [0, 2]),
        ]);
        assertExact(vx, [16, NaN, 16], `${what} vec4 rows max`);
        assert.equal(va[1], 501, `${what} vec4 rows argmin: the first NaN`);
        assertExact(gx, [8, NaN, 8], `${what} gathered max`);
        assert.equal(ga[1], 107, `${what} gathered argmax: the first NaN (flat o·50 + t)`);
      };
      if (device === "gpu") await onGpuProfiles((p) => check(p));
      else await check("cpu");
    },
  });

  Deno.test({
    name: `nan ${device}: max pooling propagates NaN and routes its gradient to the first NaN`,
    ...opts,
    fn: async () => {
      const x = on(device, [1, NaN, 3, 4, 5, 6, 7, 8, 9, 1, 2, NaN, 0, 0, 0, 0], [1, 1, 4, 4]);
      assertExact(await dn.pool(x).data(), [NaN, 8, 9, NaN], "pool");
      const p = new dn.Param(x);
      const J = dn.diff(() => dn.sum(dn.pool(p)));
      const g = await J.grad(p)!.data();
      assertExact(g, [0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0], "gradient");
      J.dispose();
    },
  });

  Deno.test({
    name: `nan ${device}: accuracy and nll of an MLP with NaN first-layer weights are NaN`,
    ...opts,
    fn: async () => {
      dn.seed(3);
      const mlp = new dn.Chain(
        new dn.Dense(20, 16, { device }),
        new dn.Dense(16, 10, { activation: "identity", device }),
      );
      const w = dn.params(mlp)[0];
      dn.fill(w, NaN);
      const x = dn.randn([50, 20], { device });
      const y = on(device, Array.from({ length: 50 }, (_, i) => i % 10));
      const scores = mlp.forward(x);
      const [acc, loss] = await dn.readAll([dn.accuracy(scores, y), dn.nll(scores, y)]);
      assert.ok(Number.isNaN(acc[0]), `accuracy ${acc[0]}`);
      assert.ok(Number.isNaN(loss[0]), `nll ${loss[0]}`);
      // A finite model keeps its figure.
      const ok = on(device, [0, 5, 1, 9, 3, 2], [2, 3]);
      assertExact(await dn.accuracy(ok, on(device, [1, 2])).data(), [0.5], "finite accuracy");
    },
  });
}
