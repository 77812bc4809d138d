/**
 * The autograd API and its Knet semantics (src/autograd/*): `grad(J, p)` is null for an
 * unused Param, gradients accumulate over uses, `value` detaches, `params` finds every
 * Param once, `grad(f, argnum)` / `gradloss(f)`, user primitives via `defineOp` (Knet's
 * @primitive / @zerograd), errors (non-scalar result, nested diff, in-place updates of
 * recorded tensors), nothing recorded outside diff, and no tape or GPU memory left
 * behind by a failure. CPU tests use f64 with values whose results are exact; the same
 * checks run on the GPU (f32, also exact for these values) when one is available.
 */

import assert from "node:assert/strict";
import * as dn from "../internals.ts";
import type { DeviceName, Tensor } from "../internals.ts";
import { installedTape } from "../src/autograd/tape.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";

const gpu = await haveGpu();
const DEVICES: DeviceName[] = ["cpu", "gpu"];

/** A tensor on `device` (f64 on the CPU, f32 on the GPU). */
function t(device: DeviceName, values: dn.NestedArray): Tensor {
  return dn.fromArray(values, { device, dtype: device === "cpu" ? "f64" : "f32" });
}

/** A Param on `device` owning its storage alone (the wrapped tensor is released). */
function param(device: DeviceName, values: dn.NestedArray): dn.Param {
  const x = t(device, values);
  const p = new dn.Param(x);
  x.dispose();
  return p;
}

async function values(x: Tensor | null): Promise<number[]> {
  assert.ok(x !== null, "expected a tensor, got null");
  return Array.from(await x.data());
}

/** Registers one test per device; the GPU one is skipped without a GPU. */
function bothDevices(name: string, fn: (device: DeviceName) => Promise<void> | void): void {
  for (const device of DEVICES) {
    Deno.test({
      name: `autograd ${device}: ${name}`,
      ignore: device === "gpu" && !gpu,
      ...(device === "gpu" ? GPU_TEST : {}),
      fn: async () => {
        const before = device === "gpu" ? dn.counters().liveBytes : 0;
        await fn(device);
        if (device === "gpu") {
          assert.equal(dn.counters().liveBytes, before, `${name}: GPU memory released`);
        }
      },
    });
  }
}

bothDevices("grad is null for an unused Param; uses of a Param accumulate", async (device) => {
  const w = param(device, [0.5, -1, 2, 3]);
  const unused = param(device, [1, 2]);
  const J = dn.diff(() => dn.add(dn.sum(dn.mul(w, w)), dn.sum(w)));
  assert.equal(dn.grad(J, unused), null);
  assert.deepEqual(await values(dn.grad(J, w)), [2, -1, 5, 7], "2w + 1");
  assert.deepEqual(await values(J.value), [0.25 + 1 + 4 + 9 + 4.5]);
  assert.deepEqual(J.params(), [w]);
  J.dispose();

  // Three routes to the same Param: directly, through a reshape view, through a slice.
  const J2 = dn.diff(() =>
    dn.add(
      dn.add(dn.sum(w), dn.sum(dn.mul(w.reshape(2, 2), 3))),
      dn.sum(dn.slice(w, [[1, 3]])),
    )
  );
  assert.deepEqual(await values(dn.grad(J2, w)), [4, 5, 5, 4]);
  J2.dispose();

  // A Param used twice as the same op's inputs, and a function returning the Param.
  const s = param(device, [3]);
  const J3 = dn.diff(() => dn.mul(s, s));
  assert.deepEqual(await values(dn.grad(J3, s)), [6]);
  J3.dispose();
  const J4 = dn.diff(() => s);
  assert.deepEqual(await values(dn.grad(J4, s)), [1]);
  J4.dispose();
  for (const p of [w, unused, s]) p.dispose();
});

bothDevices("value() detaches: no gradient flows through it", async (device) => {
  const w = param(device, [1, -2, 3]);
  const J = dn.diff(() => dn.sum(dn.mul(dn.value(w), w)));
  assert.deepEqual(await values(dn.grad(J, w)), [1, -2, 3], "w, not 2w");
  assert.equal(dn.value(J), J.value);
  J.dispose();

  const J2 = dn.diff(() => {
    const y = dn.mul(w, 3); // a recorded result
    return dn.sum(dn.mul(dn.value(y), w));
  });
  assert.deepEqual(await values(dn.grad(J2, w)), [3, -6, 9], "value(3w)·w → 3w");
  J2.dispose();

  const J3 = dn.diff(() => dn.sum(dn.value(dn.square(w))));
  assert.equal(dn.grad(J3, w), null, "everything went through value()");
  assert.deepEqual(await values(J3.value), [14]);
  J3.dispose();

  const g = dn.grad((x: Tensor) => dn.add(dn.sum(dn.value(x)), dn.sum(dn.value(dn.exp(x)))));
  const x = t(device, [1, 2]);
  const dx = g(x);
  assert.deepEqual(await values(dx), [0, 0], "grad(f) of a detached function is zero");
  for (const z of [dx, x, w]) z.dispose();
});

Deno.test("autograd: params() finds Params in nested objects, arrays, Maps, Sets, class instances, once", () => {
  const p = Array.from({ length: 7 }, (_, i) => new dn.Param(dn.zeros([i + 1], { device: "cpu" })));
  class Dense {
    w: dn.Param;
    b: dn.Param;
    act = "relu";
    constructor(w: dn.Param, b: dn.Param) {
      this.w = w;
      this.b = b;
    }
  }
  class Chain {
    layers: Dense[];
    constructor(...layers: Dense[]) {
      this.layers = layers;
    }
  }
  const model: Record<string, unknown> = {
    net: new Chain(new Dense(p[0], p[1]), new Dense(p[2], p[3])),
    tied: p[0], // the same Param again (weight tying)
    emb: new Map<string, unknown>([["tok", p[4]], ["again", [p[2], { deep: p[1] }]]]),
    set: new Set([p[5], p[3]]),
    plain: dn.zeros([2], { device: "cpu" }), // a Tensor, not a Param
    data: new Float32Array(3),
    n: 5,
    nothing: null,
  };
  model.self = model; // a cycle
  model.later = [[[[p[6]]]]];
  assert.deepEqual(dn.params(model), p, "each Param once, in first-found order");
  assert.deepEqual(dn.params(p[3]), [p[3]]);
  assert.deepEqual(dn.params([1, "a", null, undefined]), []);
  assert.deepEqual(dn.params(new Dense(p[1], p[1])), [p[1]]);
});

bothDevices("grad(f, argnum) and gradloss(f)", async (device) => {
  const f = (a: Tensor, x: Tensor, _unused: Tensor) => dn.sum(dn.mul(a, dn.square(x)));
  const a = t(device, [1, 2, -3]);
  const x = t(device, [2, 0.5, 1]);
  const u = t(device, [7]);
  const dx = dn.grad(f, 1)(a, x, u);
  assert.deepEqual(await values(dx), [4, 2, -6], "2·a·x");
  const da = dn.grad(f)(a, x, u);
  assert.deepEqual(await values(da), [4, 0.25, 1], "argnum 0 by default: x²");
  const du = dn.grad(f, 2)(a, x, u);
  assert.deepEqual(await values(du), [0], "an argument f ignores: zeros of its shape");
  const [gx, loss] = dn.gradloss(f, 1)(a, x, u);
  assert.deepEqual(await values(gx), [4, 2, -6]);
  assert.deepEqual(await values(loss), [4 + 0.5 - 3]);
  // The arguments are neither changed nor turned into Params.
  assert.equal(dn.isParam(x), false);
  assert.deepEqual(await values(x), [2, 0.5, 1]);
  // An argument that already is a Param is differentiated as itself.
  const px = new dn.Param(x);
  const dpx = dn.grad(f, 1)(a, px, u);
  assert.deepEqual(await values(dpx), [4, 2, -6]);
  assert.throws(() => dn.grad(f, 3)(a, x, u), /argnum 3 is out of range/);
  assert.throws(() => dn.grad((_n: number) => dn.zeros([1]).reshape([]), 0)(3), /must be a Tensor/);
  for (const z of [dx, da, du, gx, loss, dpx, px, a, x, u]) z.dispose();
});

bothDevices("errors: non-scalar result, nested diff, bad f; no tape left after", (device) => {
  const w = param(device, [1, 2, 3]);
  assert.throws(() => dn.diff(() => dn.mul(w, 2)), /scalar/);
  assert.equal(installedTape(), null);
  assert.throws(
    () => dn.diff(() => dn.sum(dn.diff(() => dn.sum(w)).value)),
    /nested diff/,
  );
  assert.equal(installedTape(), null);
  assert.throws(() => dn.diff(() => 3 as unknown as Tensor), /must return a Tensor/);
  assert.throws(() => dn.diff(42 as unknown as () => Tensor), /expected a function/);
  assert.equal(installedTape(), null);
  assert.equal(dn.isRecording(), false);
  const J = dn.diff(() => dn.sum(w));
  assert.ok(dn.grad(J, w) !== null, "diff works after the failures");
  J.dispose();
  w.dispose();
});

bothDevices("in-place updates of recorded tensors inside diff are refused", async (device) => {
  const w = param(device, [1, 2, 3]);
  const c = t(device, [10, 20, 30]);
  const attempts: [string, (y: Tensor) => unknown][] = [
    ["axpy", (y) => dn.axpy(1, c, y)],
    ["axpby", (y) => dn.axpby(1, c, 2, y)],
    ["scal", (y) => dn.scal(2, y)],
    ["fill", (y) => dn.fill(y, 0)],
    ["copy", (y) => dn.copyInto(c, y)],
  ];
  for (const [name, update] of attempts) {
    assert.throws(() => dn.diff(() => (update(w), dn.sum(w))), /in-place/, `${name} on a Param`);
    assert.throws(
      () => dn.diff(() => dn.sum(update(dn.mul(w, 2)) as Tensor)),
      /in-place/,
      `${name} on a recorded result`,
    );
    assert.equal(installedTape(), null);
  }
  assert.deepEqual(await values(w), [1, 2, 3], "the Param was not changed");
  // Outside diff the same updates work (the optimizer's step).
  dn.axpy(-1, c, w);
  assert.deepEqual(await values(w), [-9, -18, -27]);
  c.dispose();
  w.dispose();
});

let cubeBackwardCalls = 0;
let recordingInBackward: boolean | null = null;
/** x³ from other ops (an implementation releases its intermediates, as ops do). */
const cubeImpl = ([x]: readonly Tensor[]) => dn.tidy(() => dn.mul(dn.mul(x, x), x));
/** x³ as a primitive (Knet's @primitive) whose backward is 3x²·dy. */
const cubeOp = dn.defineOp<Record<string, never>>({
  name: "test_autograd_cube",
  cpu: cubeImpl,
  gpu: cubeImpl,
  backward: (dy, [x]) => {
    cubeBackwardCalls++;
    recordingInBackward = dn.isRecording();
    return [dn.mul(dn.mul(dn.square(x), 3), dy)];
  },
});
const cube = (x: Tensor) => dn.runOp(cubeOp, [x], {});
/** x² + x, built from differentiable ops but declared without a gradient (@zerograd). */
const zeroGradOp = dn.defineOp<Record<string, never>>({
  name: "test_autograd_zerograd",
  cpu: ([x]) => dn.tidy(() => dn.add(dn.mul(x, x), x)),
  gpu: ([x]) => dn.tidy(() => dn.add(dn.mul(x, x), x)),
});
const zerograd = (x: Tensor) => dn.runOp(zeroGradOp, [x], {});

bothDevices(
  "defineOp: a primitive with backward is differentiated, one without is not",
  async (device) => {
    const w = param(device, [1, -2, 0.5]);
    cubeBackwardCalls = 0;
    const J = dn.diff(() => dn.sum(cube(w)));
    assert.deepEqual(await values(dn.grad(J, w)), [3, 12, 0.75], "3w²");
    assert.equal(cubeBackwardCalls, 1, "its own backward ran once");
    assert.equal(recordingInBackward, false, "backward rules run with recording off");
    J.dispose();
    // Composed with other ops on both sides.
    const J2 = dn.diff(() => dn.sum(dn.mul(cube(dn.mul(w, 2)), 0.5)));
    assert.deepEqual(await values(dn.grad(J2, w)), [12, 48, 3], "d/dw ½(2w)³ = 12w²");
    J2.dispose();

    const J3 = dn.diff(() => dn.sum(zerograd(w)));
    assert.equal(dn.grad(J3, w), null, "@zerograd: no gradient, even though built from ops");
    assert.deepEqual(await values(J3.value), [1 + 1 + 4 - 2 + 0.25 + 0.5]);
    J3.dispose();
    const J4 = dn.diff(() => dn.add(dn.sum(zerograd(w)), dn.sum(dn.mul(w, 2))));
    assert.deepEqual(await values(dn.grad(J4, w)), [2, 2, 2], "only the other path counts");
    J4.dispose();
    w.dispose();
  },
);

bothDevices("nothing is recorded outside diff", async (device) => {
  const w = param(device, [1, 2]);
  assert.equal(dn.isRecording(), false);
  cubeBackwardCalls = 0;
  const y = cube(w); // a differentiable op on a Param, outside diff
  const z = dn.tidy(() => dn.sum(dn.mul(y, w)));
  assert.equal(dn.isParam(y), false);
  assert.equal(installedTape(), null);
  let inside: boolean | null = null;
  const J = dn.diff(() => {
    inside = dn.isRecording();
    return dn.sum(dn.mul(y, w)); // y is a constant here
  });
  assert.equal(inside, true);
  assert.equal(dn.isRecording(), false);
  assert.deepEqual(await values(dn.grad(J, w)), [1, 8], "y = w³ taken as a constant");
  assert.equal(cubeBackwardCalls, 0, "the op run outside diff was not on the tape");
  assert.deepEqual(await values(z), [1 + 16]);
  for (const x of [y, z, w]) x.dispose();
  J.dispose();
});

bothDevices(
  "an exception in f or in a backward rule leaves no tape and no memory",
  async (device) => {
    const w = param(device, [1, 2, 3]);
    assert.throws(
      () =>
        dn.diff(() => {
          dn.exp(dn.mul(w, 2)); // intermediates that must be released
          throw new Error("boom in f");
        }),
      /boom in f/,
    );
    assert.equal(installedTape(), null);
    assert.equal(dn.isRecording(), false);
    const failing = dn.defineOp<Record<string, never>>({
      name: `test_autograd_failing_backward_${device}`,
      cpu: ([x]) => dn.mul(x, 1),
      gpu: ([x]) => dn.mul(x, 1),
      backward: (dy) => {
        dn.mul(dy, 2); // allocated in the rule before it fails
        throw new Error("boom in backward");
      },
    });
    assert.throws(
      () => dn.diff(() => dn.sum(dn.tanh(dn.runOp(failing, [dn.square(w)], {})))),
      /boom in backward/,
    );
    assert.equal(installedTape(), null);
    assert.equal(dn.isRecording(), false);
    // grad(f) wraps its argument in a Param: a failing f must not leak it.
    const x = t(device, [1, 2]);
    const g = dn.grad((v: Tensor) => {
      dn.square(v);
      throw new Error("boom in grad(f)");
    });
    assert.throws(() => g(x), /boom in grad\(f\)/);
    x.dispose();
    // A following diff works.
    const J = dn.diff(() => dn.sum(dn.square(w)));
    assert.deepEqual(await values(dn.grad(J, w)), [2, 4, 6]);
    J.dispose();
    w.dispose();
  },
);

bothDevices("DiffResult owns only what diff made: value, gradients, take()", async (device) => {
  // f returning a tensor the caller owns: disposing the result leaves it alone.
  const c = t(device, [5]);
  const J = dn.diff(() => c);
  assert.deepEqual(await values(J.value), [5]);
  J.dispose();
  assert.equal(c.disposed, false);
  assert.deepEqual(await values(c), [5], "the caller's tensor survives J.dispose()");
  // f returning value(p) of a one-element Param: the Param's value survives too.
  const s = param(device, [4]);
  const J2 = dn.diff(() => dn.value(s));
  assert.equal(dn.grad(J2, s), null);
  J2.dispose();
  assert.deepEqual(await values(dn.value(s)), [4], "value(p) survives J.dispose()");
  const s2 = dn.mul(s, 1);
  assert.deepEqual(await values(s2), [4]);
  s2.dispose();
  // take() hands a gradient over: dispose() no longer releases it.
  const w = param(device, [1, 2]);
  const J3 = dn.diff(() => dn.sum(dn.square(w)));
  const g = J3.take(w);
  assert.equal(J3.grad(w), null);
  J3.dispose();
  assert.deepEqual(await values(g), [2, 4]);
  for (const x of [g!, w, s, c]) x.dispose();
});

bothDevices(
  "a backward rule may return one tensor for two inputs, one of them untracked",
  async (device) => {
    const sumOp = dn.defineOp<Record<string, never>>({
      name: `test_autograd_shared_grad_${device}`,
      cpu: ([a, b]) => dn.add(a, b),
      gpu: ([a, b]) => dn.add(a, b),
      backward: (dy) => {
        const g = dn.mul(dy, 1); // a fresh tensor, handed out for both inputs
        return [g, g];
      },
    });
    const w = param(device, [1, 2]);
    const c = t(device, [3, 4]);
    for (const order of ["constant first", "constant second"]) {
      const J = dn.diff(() => {
        const y = order === "constant first"
          ? dn.runOp(sumOp, [c, w], {})
          : dn.runOp(sumOp, [w, c], {});
        return dn.sum(dn.mul(y, y));
      });
      assert.deepEqual(await values(dn.grad(J, w)), [8, 12], `${order}: 2(w + c)`);
      J.dispose();
    }
    w.dispose();
    c.dispose();
  },
);

bothDevices("a backward rule may return an input or dy itself as a gradient", async (device) => {
  // y = Σ a·b; its rule hands back b and a themselves (right when dy = 1, as here).
  const dotOp = dn.defineOp<Record<string, never>>({
    name: `test_autograd_returns_inputs_${device}`,
    cpu: ([a, b]) => dn.dot(a, b),
    gpu: ([a, b]) => dn.dot(a, b),
    backward: (_dy, [a, b]) => [b, a],
  });
  const a = param(device, [1, 2]);
  const b = param(device, [3, 4]);
  const J = dn.diff(() => dn.runOp(dotOp, [a, b], {}));
  assert.deepEqual(await values(dn.grad(J, a)), [3, 4]);
  assert.deepEqual(await values(dn.grad(J, b)), [1, 2]);
  J.dispose();
  assert.deepEqual(await values(a), [1, 2], "the inputs survive their gradients' release");
  assert.deepEqual(await values(b), [3, 4]);
  // A rule returning dy for both inputs (add's): both get their own gradient.
  const J2 = dn.diff(() => dn.sum(dn.add(a, b)));
  const ga = J2.take(a)!;
  J2.dispose();
  assert.deepEqual(await values(ga), [1, 1], "a taken gradient outlives the result");
  ga.dispose();
  a.dispose();
  b.dispose();
});

bothDevices("tidy and dispose inside f do not break the backward pass", async (device) => {
  const w = param(device, [0.5, -1, 2]);
  const J = dn.diff(() =>
    dn.tidy(() => {
      const h = dn.tidy(() => dn.mul(dn.square(w), 2)); // intermediates released here
      const y = dn.sum(dn.mul(h, w));
      h.dispose(); // the forward code's handle; the tape keeps its own
      return y;
    })
  );
  assert.deepEqual(await values(dn.grad(J, w)), [1.5, 6, 24], "d/dw Σ 2w³ = 6w²");
  J.dispose();
  w.dispose();
});

bothDevices("gradients at kinks, ties and zeros follow Knet's conventions", async (device) => {
  const w = param(device, [[0, 2, 3], [0, 0, 5], [1, 2, 4]]);
  // prod: dy·Π_{j≠i} x_j, exact in rows with one zero or several (not 0/0 = NaN).
  const J = dn.diff(() => dn.sum(dn.prod(w, 1)));
  assert.deepEqual(await values(dn.grad(J, w)), [6, 0, 0, 0, 0, 0, 8, 4, 2]);
  J.dispose();
  const J1 = dn.diff(() => dn.prod(w));
  assert.deepEqual(await values(dn.grad(J1, w)), Array(9).fill(0), "three zeros: all 0");
  J1.dispose();
  // relu and abs at 0 have derivative 0.
  const v = param(device, [-1, 0, 2]);
  const J2 = dn.diff(() => dn.add(dn.sum(dn.relu(v)), dn.sum(dn.mul(dn.abs(v), 3))));
  assert.deepEqual(await values(dn.grad(J2, v)), [-3, 0, 4]);
  J2.dispose();
  // Elementwise maximum/minimum at a tie: the whole dy goes to the first operand.
  const a = param(device, [1, 2, 3]);
  const b = param(device, [1, 5, 0]);
  for (const op of ["maximum", "minimum"] as const) {
    const Jm = dn.diff(() => dn.sum(dn[op](a, b)));
    const [ga, gb] = [await values(dn.grad(Jm, a)), await values(dn.grad(Jm, b))];
    assert.deepEqual(ga.map((g, i) => g + gb[i]), [1, 1, 1], `${op}: dy is not lost or doubled`);
    assert.deepEqual(ga, op === "maximum" ? [1, 0, 1] : [1, 1, 0], `${op}: a`);
    Jm.dispose();
  }
  // max/min reductions: every tied extremum gets dy (as Knet's dy·(x .== y)).
  const m = param(device, [3, 1, 3, -2]);
  const J3 = dn.diff(() => dn.add(dn.max(m), dn.mul(dn.min(m), 10)));
  assert.deepEqual(await values(dn.grad(J3, m)), [1, 0, 1, 10]);
  J3.dispose();
  for (const x of [w, v, a, b, m]) x.dispose();
});

bothDevices("Param shares storage with the tensor it wraps", async (device) => {
  const x = t(device, [1, 2, 3]);
  const p = new dn.Param(x);
  assert.equal(dn.isParam(p), true);
  assert.equal(dn.isParam(x), false);
  dn.scal(2, p); // outside diff: in place
  assert.deepEqual(await values(x), [2, 4, 6]);
  assert.deepEqual(await values(dn.value(p)), [2, 4, 6]);
  p.dispose();
  assert.deepEqual(await values(x), [2, 4, 6], "x outlives the Param");
  x.dispose();
});

Deno.test({
  name: "autograd gpu: gcheck on the GPU agrees for a smooth f and leaves no memory behind",
  ignore: !gpu,
  ...GPU_TEST,
  fn: async () => {
    const before = dn.counters().liveBytes;
    const rng = new dn.Rng(3);
    const x = dn.rand([3, 4], { device: "gpu", rng });
    const w = dn.randn([4, 2], { device: "gpu", rng });
    // f32 central differences: default δ = 1e-4 and Knet's tolerances.
    assert.equal(await dn.gcheck((a: Tensor, b: Tensor) => dn.tanh(dn.matmul(a, b)), x, w), true);
    const wrong = dn.defineOp<Record<string, never>>({
      name: "test_autograd_gpu_wrong",
      cpu: ([a]) => dn.mul(a, a),
      gpu: ([a]) => dn.mul(a, a),
      backward: (dy) => [dn.mul(dy, 1)],
    });
    assert.equal(
      await dn.gcheck((a: Tensor) => dn.runOp(wrong, [a], {}), x, { verbose: false }),
      false,
    );
    // Every intermediate f creates is released (held here so that no finalizer can
    // release it instead: this checks gcheck's own bookkeeping).
    const made: Tensor[] = [];
    const f = (a: Tensor) => {
      const m = dn.mul(a, 2);
      made.push(m);
      return dn.sin(m);
    };
    assert.equal(await dn.gcheck(f, x, { nsample: 3 }), true);
    assert.ok(made.length >= 8, `f ran ${made.length} times`);
    made.forEach((m, i) => assert.ok(m.disposed, `intermediate of call ${i} was released`));
    x.dispose();
    w.dispose();
    assert.equal(dn.counters().liveBytes, before);
  },
});
