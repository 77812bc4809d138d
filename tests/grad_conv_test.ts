/**
 * Numerical gradient checks of conv4 and deconv4 in f64 on the CPU (gcheck with the
 * tolerances of tests/grad_ops_test.ts, whose header derives them: δ = 1e-6, atol = rtol =
 * 1e-6), in both modes with padding, stride, dilation, groups and α; every element of w
 * and x is checked. Also: `needs` skips the gradients nobody asked for.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import { conv4, type ConvOptions, deconv4 } from "../src/ops/conv.ts";
import { getOp } from "../src/ops/registry.ts";

const F64_GCHECK = { atol: 1e-6, rtol: 1e-6, delta: 1e-6 } as const;

const CASES: [number[], number[], ConvOptions][] = [
  [[1, 1, 1, 7], [1, 1, 1, 3], {}],
  [[2, 2, 5, 6], [3, 2, 3, 2], { padding: 1, mode: 1 }],
  [[2, 4, 7, 6], [4, 2, 3, 3], { padding: [1, 2], stride: [2, 1], dilation: [1, 2], group: 2 }],
  [[1, 3, 6, 7], [3, 1, 2, 3], { group: 3, stride: 2, mode: 1, alpha: -1.5 }],
  [[2, 2, 8, 5], [2, 2, 3, 2], { dilation: 2, padding: [2, 0], stride: [3, 2] }],
];

Deno.test("gcheck f64: conv4 and deconv4, both modes, padding/stride/dilation/group/alpha", async () => {
  const rng = new dn.Rng(7);
  const failed: string[] = [];
  for (const [xs, ws, o] of CASES) {
    for (const mode of [0, 1] as const) {
      const opts = { ...o, mode };
      const w = dn.randn(ws, { dtype: "f64", device: "cpu", rng });
      const x = dn.randn(xs, { dtype: "f64", device: "cpu", rng });
      const nsample = Math.max(w.size, x.size);
      const f = (w: dn.Tensor, x: dn.Tensor) => conv4(w, x, opts);
      if (!await dn.gcheck(f, w, x, { ...F64_GCHECK, nsample, seed: 3 })) {
        failed.push(`conv4 ${xs} ${ws} ${JSON.stringify(opts)}`);
      }
      // deconv4's x has conv4's output shape; its w is the same filter tensor.
      const yShape = conv4(w, x, opts).shape;
      const xd = dn.randn([...yShape], { dtype: "f64", device: "cpu", rng });
      const g = (w: dn.Tensor, x: dn.Tensor) => deconv4(w, x, opts);
      if (
        !await dn.gcheck(g, w, xd, { ...F64_GCHECK, nsample: Math.max(w.size, xd.size), seed: 4 })
      ) {
        failed.push(`deconv4 ${yShape} ${ws} ${JSON.stringify(opts)}`);
      }
    }
  }
  assert.deepEqual(failed, []);
});

Deno.test("gcheck f64: a wrong conv gradient is caught (the check has teeth)", async () => {
  const op = getOp("conv4") as any;
  const orig = op.backward;
  op.backward = (dy: any, xs: any, y: any, a: any, needs: boolean[]) => {
    const [dw, dx] = orig(dy, xs, y, a, needs);
    return [dn.binary("mul", dw, 1 + 1e-5), dx];
  };
  try {
    const rng = new dn.Rng(1);
    const w = dn.randn([2, 1, 3, 3], { dtype: "f64", device: "cpu", rng });
    const x = dn.randn([1, 1, 5, 5], { dtype: "f64", device: "cpu", rng });
    const ok = await dn.gcheck((w: dn.Tensor, x: dn.Tensor) => conv4(w, x), w, x, {
      ...F64_GCHECK,
      nsample: 25,
      verbose: false,
    });
    assert.equal(ok, false);
  } finally {
    op.backward = orig;
  }
});

Deno.test("conv4 backward: `needs` skips the unneeded gradient", () => {
  const ran: string[] = [];
  const wrapped: [any, any][] = [];
  for (const name of ["conv4_w", "deconv4"]) {
    const op = getOp(name) as any;
    wrapped.push([op, op.cpu]);
    const orig = op.cpu;
    op.cpu = (xs: any, a: any) => {
      ran.push(name);
      return orig(xs, a);
    };
  }
  try {
    const w = new dn.Param(dn.randn([2, 1, 3, 3], { dtype: "f64", device: "cpu" }));
    const x = dn.randn([1, 1, 5, 5], { dtype: "f64", device: "cpu" });
    const J = dn.diff(() => dn.sum(conv4(w, x)));
    assert.ok(J.grad(w) !== null);
    assert.deepEqual(ran, ["conv4_w"]);
    const px = new dn.Param(x);
    ran.length = 0;
    dn.diff(() => dn.sum(conv4(w.value, px)));
    assert.deepEqual(ran, ["deconv4"]);
  } finally {
    for (const [op, cpu] of wrapped) op.cpu = cpu;
  }
});
