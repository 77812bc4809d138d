/**
 * JSO's fomo options on R2 (momentum β, nonmonotone M, the TR step): the device runs
 * follow a host transcription of JSO's iteration (f64, rtol 1e-9); trunk and lbfgs on
 * user-built quasi-Newton models; bad options; solver reuse (solve!/reset!); JSO's
 * verbose table; GPU: no host sync per iteration with momentum and M > 1.
 */

import assert from "node:assert/strict";
import type { SmoothNLP } from "../src/nlp/nlp.ts";
import { counters } from "../src/gpu/counters.ts";
import { dot, nrm2 } from "../src/ops/reduce.ts";
import { axpby, axpy, copyInto, scal } from "../src/ops/vector.ts";
import { zeros } from "../src/tensor/create.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import {
  fomo,
  lbfgs,
  LBFGSModel,
  LSR1Model,
  R2,
  type R2Params,
  R2Solver,
  TR,
  trunk,
} from "../src/solvers/mod.ts";
import { assertClose, GPU_TEST, haveGpu } from "./_helpers.ts";
import { gradNorm, model, problems } from "./solver_problems.ts";

const gpu = await haveGpu();
const EPS = 2 ** -52;

/**
 * JSOSolvers' fomo/fo iteration transcribed on the host (vectors through the same ops,
 * every scalar decision in plain numbers), with ‖d‖ kept current (see r2.ts). Returns one
 * row per iteration: f, ‖∇f‖, σ (r2) or Δ (tr).
 */
async function jsoFomo(
  nlp: SmoothNLP,
  p: Required<Pick<R2Params, "beta" | "M" | "variant">>,
  atol: number,
  rtol: number,
  maxIter: number,
): Promise<number[][]> {
  const n = nlp.meta.nvar;
  const like = { dtype: "f64", device: "cpu" } as const;
  const [x, g, c, gc, m, d, pv] = Array.from({ length: 7 }, () => zeros([n], like));
  const num = async (t: Tensor) => (await t.data())[0];
  const [eta1, eta2, gamma1, gamma2, gamma3, theta1, theta2] = [
    EPS ** 0.25,
    0.95,
    0.5,
    2,
    0.5,
    0.1,
    EPS ** (1 / 3),
  ];
  const tr = p.variant === "tr";
  const momentum = p.beta > 0;
  copyInto(nlp.meta.x0, x);
  let f = await num(nlp.objgrad(x, g));
  let gn = await num(nrm2(g));
  let alpha = (tr ? gn : 1) / 2 ** Math.round(Math.log2(gn + 1));
  const eps = atol + rtol * gn;
  const mem = new Array<number>(p.M).fill(-Infinity);
  let memInd = 0;
  mem[0] = f;
  let fM = f;
  copyInto(g, d);
  let normD = gn;
  let betaMax = 0;
  let mdot = 0;
  const direction = async () => {
    copyInto(g, d);
    scal(1 - betaMax, d);
    axpy(betaMax, m, d);
    normD = await num(nrm2(d));
  };
  const trace: number[][] = [];
  while (!(gn <= eps) && trace.length <= maxIter) { // JSO: max_iter when iter > maxIter
    const mu = tr ? alpha / normD : alpha;
    copyInto(x, c);
    axpy(-mu, momentum ? d : g, c);
    const dT = ((1 - betaMax) * (gn * gn) + betaMax * mdot) * mu;
    const fc = await num(nlp.objgrad(c, gc));
    const rho = (fM - fc) / (fM - f + dT);
    if (rho >= eta2) alpha = Math.min(1 / EPS, gamma2 * alpha);
    else if (!(rho >= eta1)) {
      alpha *= gamma1;
      if (momentum) {
        betaMax *= gamma3;
        await direction();
      }
    }
    if (rho >= eta1) {
      copyInto(c, x);
      if (momentum) axpby(1 - p.beta, g, p.beta, m);
      f = fc;
      memInd = (memInd + 1) % p.M;
      mem[memInd] = f;
      fM = Math.max(...mem);
      copyInto(gc, g);
      gn = await num(nrm2(g));
      if (momentum) {
        mdot = await num(dot(m, g));
        copyInto(m, pv);
        axpy(-1, g, pv);
        const n1 = gn * gn - mdot;
        const n2 = await num(nrm2(pv));
        const b1 = n1 > 0 ? ((gn * gn) * (1 - theta1) - (f - fM) / mu) / n1 : p.beta;
        const b2 = n2 !== 0 ? (gn * (1 - theta2)) / n2 : p.beta;
        betaMax = Math.min(Math.min(b1, b2), p.beta);
        await direction();
      } else normD = gn;
    }
    trace.push([f, gn, tr ? alpha : 1 / alpha]);
  }
  for (const t of [x, g, c, gc, m, d, pv]) t.dispose();
  return trace;
}

const CASES: { label: string; p: Required<Pick<R2Params, "beta" | "M" | "variant">> }[] = [
  { label: "fomo β = 0.9", p: { beta: 0.9, M: 1, variant: "r2" } },
  { label: "TR", p: { beta: 0, M: 1, variant: "tr" } },
  { label: "fomo-TR β = 0.9, M = 4", p: { beta: 0.9, M: 4, variant: "tr" } },
  { label: "R2 M = 3", p: { beta: 0, M: 3, variant: "r2" } },
];

Deno.test("fomo (β = 0.9), TR and the nonmonotone M follow JSO's iteration transcribed on the host (f64, rtol 1e-9)", async () => {
  const probs = problems("f64", "cpu");
  const tols = { atol: 1e-6, rtol: 1e-6 };
  for (const pi of [2, 3]) { // the tridiagonal quadratic, Rosenbrock
    const pr = probs[pi];
    for (const { label, p } of CASES) {
      const maxIter = 400;
      const ref = await jsoFomo(model(pr, "f64"), p, tols.atol, tols.rtol, maxIter);
      const got: number[][] = [];
      const s = await R2(model(pr, "f64"), {
        ...tols,
        ...p,
        maxIter,
        callback: (_n, _s, st) => {
          const sp = st.solverSpecific;
          if (st.iter > 0) {
            got.push([
              st.objective,
              st.dualFeas,
              (p.variant === "tr" ? sp.radius : sp.sigma) as number,
            ]);
          }
        },
      });
      const what = `${label} on ${pr.name}: ${s}`;
      assert.equal(got.length, ref.length, `${what}: iterations`);
      assert.ok(ref.length >= 5, `${what}: a real trajectory`);
      got.forEach((row, k) =>
        assertClose(row, ref[k], { rtol: 1e-9, atol: 0 }, `${what}: iteration ${k + 1}`)
      );
      if (ref.length < maxIter) assert.equal(s.status, "first_order", what);
      s.solution!.dispose();
    }
  }
});

Deno.test("fomo and TR reach first_order on the five f64 problems", async () => {
  for (const solve of [fomo, TR]) {
    for (const p of problems("f64", "cpu")) {
      const nlp = model(p, "f64");
      const s = await solve(nlp, { atol: 1e-6, rtol: 1e-6, maxTime: 120 });
      const g0 = await gradNorm(p, nlp.meta.x0);
      assert.equal(s.status, "first_order", `${solve.name} on ${p.name}: ${s}`);
      assert.ok(await gradNorm(p, s.solution!) <= 1e-6 * (1 + g0));
      if (solve === fomo) assert.ok((s.solverSpecific.avgBetaMax as number) > 0);
    }
  }
});

Deno.test("trunk on a user-built LSR1Model and LBFGSModel reaches first_order on the five f64 problems", async () => {
  for (const Model of [LSR1Model, LBFGSModel]) {
    for (const p of problems("f64", "cpu")) {
      const qn = new Model(model(p, "f64"), { mem: 5 });
      const s = await trunk(qn, { atol: 1e-6, rtol: 1e-6, maxTime: 120 });
      const what = `trunk(${Model.name}) on ${p.name}: ${s}`;
      const g0 = await gradNorm(p, qn.meta.x0);
      assert.equal(s.status, "first_order", what);
      assert.ok(await gradNorm(p, s.solution!) <= 1e-6 * (1 + g0), what);
      // The pairs went to the caller's operator, which the caller still owns.
      if (s.iter > 1) assert.ok(await qn.op.acceptedPairs() > 0, `${what}: pairs kept`);
      qn.dispose();
    }
  }
  // The plain form still builds its own L-SR1 model.
  const s = await trunk(model(problems("f64", "cpu")[3], "f64"), { atol: 1e-6, rtol: 1e-6 });
  assert.equal(s.status, "first_order");
});

Deno.test("lbfgs on a user-built LBFGSModel uses its operator (same run as lbfgs(nlp)) and keeps its pairs", async () => {
  for (const p of problems("f64", "cpu")) {
    const plain = await lbfgs(model(p, "f64"), { atol: 1e-6, rtol: 1e-6 });
    const qn = new LBFGSModel(model(p, "f64"), { mem: 5 });
    const s = await lbfgs(qn, { atol: 1e-6, rtol: 1e-6 });
    assert.equal(s.status, "first_order", `${p.name}: ${s}`);
    // H = B⁻¹ by the two-loop recursion is the inverse operator's H: the same iterates.
    assert.equal(s.iter, plain.iter, p.name);
    assertClose(await s.solution!.data(), await plain.solution!.data(), {
      rtol: 1e-9,
      atol: 1e-12,
    });
    assert.ok(await qn.op.acceptedPairs() > 0);
    qn.dispose();
  }
  await assert.rejects(
    () => lbfgs(new LBFGSModel(model(problems("f64", "cpu")[0], "f64")), { mem: 3 }),
    /lbfgs: mem is the LBFGSModel's/,
  );
});

Deno.test("bad options: negative β, M < 1, an unknown variant give an Error naming the option", async () => {
  const nlp = model(problems("f64", "cpu")[0], "f64");
  await assert.rejects(() => R2(nlp, { beta: -0.1 }), /R2: beta must lie in \[0, 1\)/);
  await assert.rejects(() => fomo(nlp, { beta: 1 }), /R2: beta must lie in \[0, 1\)/);
  await assert.rejects(() => fomo(nlp, { M: 0 }), /R2: M must be an integer ≥ 1, got 0/);
  await assert.rejects(() => R2(nlp, { M: 1.5 }), /R2: M must be an integer ≥ 1/);
  await assert.rejects(
    () => R2(nlp, { variant: "qr" as "tr" }),
    /R2: variant must be "r2" or "tr", got "qr"/,
  );
  await assert.rejects(() => TR(nlp, { theta2: 1 }), /R2: theta2/);
  assert.throws(() => new R2Solver(nlp, { gamma3: 2 }), /R2: gamma3/);
  await assert.rejects(
    () => trunk(new LSR1Model(nlp), { mem: 3 }),
    /trunk-lsr1: mem is the model's/,
  );
});

Deno.test({
  name: "GPU: bad options leave nothing allocated (live bytes unchanged)",
  ...GPU_TEST,
  ignore: !gpu,
  async fn() {
    const nlp = model(problems("f32", "gpu")[1], "f32", "gpu");
    const live = counters().liveBytes;
    await assert.rejects(() => fomo(nlp, { beta: -1 }), /beta/);
    await assert.rejects(() => R2(nlp, { M: 0 }), /M must/);
    await assert.rejects(() => TR(nlp, { variant: "x" as "tr" }), /variant/);
    await assert.rejects(() => fomo(nlp, { maxIter: -5 }), /maxIter/); // after allocation
    assert.equal(counters().liveBytes, live);
  },
});

Deno.test("R2Solver is reused across solves without reallocating: same buffers, same answers (solve!/reset!)", async () => {
  const probs = problems("f64", "cpu");
  const nlp = model(probs[3], "f64");
  const solver = new R2Solver(nlp, { beta: 0.9, M: 2 });
  const seen: Tensor[] = [];
  const cb = (_n: SmoothNLP, st: { x: Tensor; m: Tensor }) => {
    if (!seen.includes(st.x)) seen.push(st.x);
    if (!seen.includes(st.m)) seen.push(st.m);
  };
  const a = await solver.solve(nlp, { atol: 1e-6, rtol: 1e-6, callback: cb });
  const b = await solver.solve(nlp, { atol: 1e-6, rtol: 1e-6, callback: cb });
  assert.equal(seen.length, 2, "one iterate and one momentum buffer for both solves");
  assert.equal(a.status, "first_order");
  assert.deepEqual([b.status, b.iter, b.objective], [a.status, a.iter, a.objective]);
  assert.deepEqual(await b.solution!.data(), await a.solution!.data());
  // Another start on the same solver, and the same problem size from another x0.
  const x0 = zeros([2], { dtype: "f64" });
  const c = await solver.solve(nlp, { x0, atol: 1e-6, rtol: 1e-6 });
  assert.equal(c.status, "first_order");
  assert.notEqual(c.iter, a.iter);
  solver.reset();
  // A problem of another size is refused.
  await assert.rejects(
    () => solver.solve(model(probs[1], "f64")),
    /fomo: the solver was built for 2/,
  );
  solver.dispose();
  await assert.rejects(() => solver.solve(nlp), /R2Solver.solve: the solver was disposed/);
});

Deno.test("verbose prints JSO's table: a header, then iter, f, ‖∇f‖, σ/Δ, ρk, (βmax), step at the check cadence", async () => {
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  let s1, s2;
  try {
    s1 = await fomo(model(problems("f64", "cpu")[0], "f64"), {
      verbose: 2,
      maxIter: 6,
      atol: 0,
      rtol: 0,
    });
    s2 = await TR(model(problems("f64", "cpu")[0], "f64"), {
      verbose: 1,
      maxIter: 2,
      atol: 0,
      rtol: 0,
    });
  } finally {
    console.log = orig;
  }
  assert.equal(s1.status, "max_iter");
  const split = (l: string) => l.trim().split(/\s{2,}/);
  assert.deepEqual(split(lines[0]), ["iter", "f", "‖∇f‖", "σ", "ρk", "βmax", "step"]);
  // Rows at iterations 0, 2, 4, 6 (every 2nd checked iteration) and 7, the last (JSO's
  // max_iter stops at iter > maxIter).
  const rows = lines.slice(1, 6).map(split);
  assert.deepEqual(rows.map((r) => r[0]), ["0", "2", "4", "6", "7"]);
  assert.match(rows[1][1], /^-?\d\.\d\de[+-]\d\d$/, "f as %9.2e");
  assert.match(rows[1][2], /^\d\.\de[+-]\d\d$/, "‖∇f‖ as %7.1e");
  assert.ok(["fail", "succ", "very"].includes(rows[1][6]), rows[1].join("|"));
  assert.equal(Number(rows[4][1]), Number(s1.objective.toExponential(2)));
  assert.deepEqual(split(lines[6]), ["iter", "f", "‖∇f‖", "Δ", "ρk", "step"]);
  assert.equal(lines.length, 6 + 1 + 4, "TR: header and iterations 0, 1, 2, 3");
  assert.equal(s2.status, "max_iter");
});

Deno.test({
  name: "GPU: fomo (β = 0.9, M = 3) and TR converge with ≤ 0.1 host syncs per step (checkEvery 10)",
  ...GPU_TEST,
  ignore: !gpu,
  async fn() {
    const p = problems("f32", "gpu")[1];
    for (const [solve, o] of [[fomo, { M: 3 }], [TR, {}]] as const) {
      const s = await solve(model(p, "f32", "gpu"), { ...o, maxIter: 3000 });
      const steps = s.solverSpecific.steps as number;
      const syncs = s.counters.hostSyncs;
      console.log(
        `${solve.name} gpu: ${s.status}, iter ${s.iter}, ${syncs} syncs / ${steps} steps`,
      );
      assert.equal(s.status, "first_order", String(s));
      assert.ok(syncs <= 1 + Math.ceil(steps / 10), `${syncs} syncs for ${steps} steps`);
      s.solution!.dispose();
    }
  },
});
