/**
 * The CPU backend (WebAssembly SIMD kernels, src/cpu + kernels/cpu): every kernel against
 * its TypeScript twin on random inputs at odd sizes, broadcast shapes and empty tensors;
 * the same bits for one thread and for all; flat heap memory over 10 000 training steps;
 * heap blocks shared by views; failures inside a worker as Errors naming the op, with no
 * hung process.
 */

import assert from "node:assert/strict";
import * as dn from "../mod.ts";
import { cpuRuntime, initCpu, withReferenceKernels } from "../src/cpu/runtime.ts";
import { heapBlockOf } from "../src/cpu/heap.ts";
import { unary, UNARY_OPS, type UnaryOpName } from "../src/ops/elementwise.ts";
import { assertClose } from "./_helpers.ts";

await initCpu();
dn.setDefaultDevice("cpu");

/** f32 kernels against the twins' f64 accumulation: |a − e| ≤ 1e-5·(|e| + scale). */
function close(actual: dn.Tensor, expected: dn.Tensor, what: string, scale = 1): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  assert.equal(actual.dtype, "f32");
  assertClose(actual.dataSync(), expected.dataSync(), { rtol: 1e-5, atol: 1e-5 * scale }, what);
}

/** Runs `f` with the kernels and with the twins, and compares. */
function twin(what: string, f: () => dn.Tensor, scale = 1): void {
  const fast = f();
  const ref = withReferenceKernels(f);
  close(fast, ref, what, scale);
}

const rng = new dn.Rng(7);
const rand = (shape: readonly number[], s = 1) => dn.mul(dn.randn([...shape], { rng }), s);

Deno.test("cpu backend: the kernels load, with threads and the heap", () => {
  const rt = cpuRuntime();
  assert.ok(rt.threads >= 1 && rt.threads === rt.pool.size, "every worker is ready after init");
  const y = dn.add(dn.ones([3]), 1);
  assert.ok(heapBlockOf(y.host()) !== undefined, "op outputs live in the kernels' heap");
  assert.deepEqual([...y.dataSync()], [2, 2, 2]);
});

Deno.test("cpu backend: gemm equals the twin at odd sizes, transposes, α/β, batches", () => {
  for (
    const [M, N, K] of [[1, 1, 1], [7, 33, 257], [33, 7, 1000], [257, 129, 65], [100, 10, 784]]
  ) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const a = rand(transA ? [K, M] : [M, K]);
        const b = rand(transB ? [N, K] : [K, N]);
        const c = rand([M, N]);
        const o = { transA, transB, alpha: 0.5, beta: -2, c };
        twin(`gemm ${M}x${N}x${K} tA=${transA} tB=${transB}`, () => dn.gemm(a, b, o), K);
      }
    }
  }
  const a3 = rand([5, 7, 33]), b2 = rand([33, 9]), b3 = rand([5, 33, 9]);
  twin("bmm shared B", () => dn.gemm(a3, b2), 33);
  twin("bmm batched", () => dn.gemm(a3, b3), 33);
  const m4 = rand([2, 1, 7, 5]), m3 = rand([3, 5, 4]);
  twin("matmul broadcast", () => dn.matmul(m4, m3), 5);
  twin("gemm K = 0", () => dn.gemm(dn.zeros([3, 0]), dn.zeros([0, 4])));
  assert.deepEqual(dn.gemm(dn.zeros([0, 3]), dn.zeros([3, 4])).shape, [0, 4]);
  const big = rand([1000, 1000]);
  twin("gemm 1000² (threads split rows)", () => dn.matmul(big, big), 1000);
});

Deno.test("cpu backend: conv4, deconv4 and the filter gradient equal the twins", () => {
  const x = rand([3, 4, 11, 9]);
  const cases: dn.ConvOptions[] = [
    {},
    { padding: 1 },
    { stride: 2, padding: [1, 2] },
    { dilation: 2, mode: 1 },
    { group: 2, padding: 1, alpha: 0.5 },
  ];
  for (const o of cases) {
    const w = rand(o.group ? [6, 2, 3, 4] : [6, 4, 3, 4]);
    const what = JSON.stringify(o);
    twin(`conv4 ${what}`, () => dn.conv4(w, x, o), 50);
    const y = dn.conv4(w, x, o);
    twin(`deconv4 ${what}`, () => dn.deconv4(w, y, o), 500);
    twin(`conv4 filter gradient ${what}`, () => {
      const p = new dn.Param(w);
      const J = dn.diff(() => dn.sum(dn.mul(dn.conv4(p, x, o), y)));
      return J.grad(p)!;
    }, 1000);
  }
  // one image and 9 images: fewer images than threads, and more than the fixed chunks
  for (const n of [1, 9]) {
    const xi = rand([n, 1, 28, 28]), w = rand([20, 1, 5, 5]);
    twin(`lenet conv1 n=${n}`, () => {
      const p = new dn.Param(w);
      const J = dn.diff(() => dn.sum(dn.square(dn.conv4(p, xi))));
      return J.grad(p)!;
    }, 1e4);
  }
});

Deno.test("cpu backend: pool and its gradient equal the twins in every mode", () => {
  for (const x of [rand([3, 4, 11, 9]), rand([2, 3, 24, 24])]) {
    const cases: dn.PoolOptions[] = [
      {},
      { window: 3, stride: 2, padding: 1 },
      { window: 3, mode: 1, padding: 1 },
      { window: [2, 3], mode: 2, padding: [1, 2], stride: [1, 2] },
      { window: 3 },
    ];
    for (const o of cases) {
      const what = `${x.shape} ${JSON.stringify(o)}`;
      twin(`pool ${what}`, () => dn.pool(x, o));
      const dy = dn.pool(rand(x.shape), o);
      twin(`pool gradient ${what}`, () => {
        const p = new dn.Param(x);
        const J = dn.diff(() => dn.sum(dn.mul(dn.pool(p, o), dy)));
        return J.grad(p)!;
      }, 10);
      twin(`unpool ${what}`, () => dn.unpool(dy, o), 10);
    }
  }
});

Deno.test("cpu backend: unary ops and their gradients equal the twins", () => {
  for (const n of [1, 7, 33, 257, 1000, 100_003]) {
    const x = rand([n], 4);
    const pos = dn.add(dn.abs(x), 1e-3);
    for (const name of Object.keys(UNARY_OPS) as UnaryOpName[]) {
      const inp = ["log", "sqrt", "rsqrt"].includes(name)
        ? pos
        : name === "log1p"
        ? dn.sub(pos, 0.999)
        : x;
      twin(`${name} n=${n}`, () => unary(name, inp));
      twin(`${name} gradient n=${n}`, () => {
        const p = new dn.Param(inp);
        const J = dn.diff(() => dn.sum(dn.mul(unary(name, p), x)));
        return J.grad(p) ?? dn.zeros([n]);
      }, 10);
    }
  }
  assert.deepEqual(dn.relu(dn.zeros([0, 3])).shape, [0, 3]);
});

Deno.test("cpu backend: binary ops with broadcasting and scalars equal the twins", () => {
  const shapes: [number[], number[]][] = [
    [[1000, 103], [1000, 103]],
    [[1000, 103], [103]],
    [[1000, 1], [1000, 103]],
    [[7, 1, 33], [1, 5, 33]],
    [[100_003], [1]],
    [[2, 3, 4, 5, 6], [3, 1, 5, 1]],
    [[0, 4], [4]],
  ];
  const ops = ["add", "sub", "mul", "div", "maximum", "minimum", "lt", "le", "gt", "ge", "eq"];
  for (const [sa, sb] of shapes) {
    const a = rand(sa), b = rand(sb);
    for (const op of ops) {
      const f = (dn as unknown as Record<string, (x: unknown, y: unknown) => dn.Tensor>)[op];
      twin(`${op} ${sa} ${sb}`, () => f(a, b), 10);
      twin(`${op} ${sa} scalar`, () => f(a, 0.25), 10);
      twin(`${op} scalar ${sa}`, () => f(0.25, a), 10);
    }
  }
});

Deno.test("cpu backend: permute, slice, flip, concat and broadcastTo equal the twins", () => {
  const x = rand([5, 7, 9, 3]);
  twin("permute", () => dn.permute(x, [2, 0, 3, 1]));
  twin("slice", () => dn.slice(x, [[1, 5, 2], null, [8, 0, -3], [1, 2]]));
  twin("flip", () => dn.flip(x, [0, 3]));
  const x2 = rand([5, 2, 9, 3]), x3 = rand([7, 1, 3]);
  twin("concat", () => dn.concat([x, x2], 1));
  twin("broadcastTo", () => dn.broadcastTo(x3, [2, 7, 4, 3]));
  twin("slice gradient", () => {
    const p = new dn.Param(x);
    const J = dn.diff(() => dn.sum(dn.square(dn.slice(p, [[1, 4], null, [2, 9, 3], null]))));
    return J.grad(p)!;
  });
});

/** A digest of several kernels' outputs, printed by the one-thread run below. */
const DIGEST = `
  import * as dn from "${new URL("../mod.ts", import.meta.url).href}";
  import { initCpu } from "${new URL("../src/cpu/runtime.ts", import.meta.url).href}";
  await initCpu();
  dn.setDefaultDevice("cpu");
  const rng = new dn.Rng(3);
  const x = dn.randn([33, 4, 13, 11], { rng }), w = dn.randn([6, 4, 3, 3], { rng });
  const a = dn.randn([300, 257], { rng }), b = dn.randn([257, 129], { rng });
  const p = new dn.Param(w);
  const J = dn.diff(() => dn.sum(dn.square(dn.pool(dn.relu(dn.conv4(p, x, { padding: 1 }))))));
  const outs = [dn.matmul(a, b), dn.gemm(a, b, { transA: false }), J.grad(p), dn.exp(a)];
  let h = 0;
  for (const t of outs) for (const v of new Uint32Array(t.dataSync().buffer)) h = (h * 31 + v) >>> 0;
  console.log(h);
`;

Deno.test("cpu backend: one thread and all threads give the same bits", async () => {
  const run = async (threads: string) => {
    const p = await new Deno.Command(Deno.execPath(), {
      args: ["eval", DIGEST],
      env: { DENET_THREADS: threads, XDG_RUNTIME_DIR: "/tmp" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
    return new TextDecoder().decode(p.stdout).trim();
  };
  const one = await run("1");
  const all = await run("4");
  assert.match(one, /^\d+$/);
  assert.equal(all, one, "4 threads (more than this machine has, too) give the same digest");
});

Deno.test("cpu backend: reshaped views share a heap block; the last owner frees it", () => {
  const heap = cpuRuntime().heap;
  const before = heap.stats().liveBlocks;
  const y = dn.add(dn.ones([4, 6], { device: "cpu" }), 2);
  const v = y.reshape([6, 4]);
  const block = heapBlockOf(y.host())!;
  assert.ok(block !== undefined && block === heapBlockOf(v.host()));
  y.dispose();
  assert.equal(block.freed, false, "the view keeps the block");
  assert.deepEqual([...v.dataSync()].slice(0, 3), [3, 3, 3]);
  v.dispose();
  assert.equal(block.freed, true);
  assert.equal(heap.stats().liveBlocks, before);
});

Deno.test("cpu backend: 10 000 training steps keep the heap flat", () => {
  const heap = cpuRuntime().heap;
  const r = new dn.Rng(1);
  const model = dn.mlpModel({ rng: r, device: "cpu", hidden: 16 });
  for (const p of dn.params(model)) p.opt = new dn.Adam();
  const x = dn.rand([8, 784], { rng: r });
  const y = dn.fromArray([0, 1, 2, 3, 4, 5, 6, 7]);
  const step = () => {
    const J = dn.diff(() => model.loss(x, y));
    for (const p of dn.params(model)) dn.update(p, J.grad(p)!);
    J.dispose();
  };
  for (let i = 0; i < 100; i++) step();
  const base = heap.stats();
  for (let i = 0; i < 10_000; i++) step();
  const after = heap.stats();
  assert.equal(after.liveBytes, base.liveBytes, "live heap bytes");
  assert.equal(after.memoryBytes, base.memoryBytes, "the memory did not grow");
  assert.equal(after.fallbacks, 0);
});

Deno.test("cpu backend: a kernel failing in a worker is an Error naming the op; no hang", async () => {
  const code = `
    import { initCpu } from "${new URL("../src/cpu/runtime.ts", import.meta.url).href}";
    const rt = await initCpu();
    // sum_runs splits its 16 elements statically: thread 0 takes the first 8 (in bounds),
    // worker 1 the last 8, which end 32 bytes past the memory's end and trap
    const at = rt.memory.buffer.byteLength - 32;
    try {
      rt.run("myop", "sum_runs", [16, 1, at, at, 0], true);
      console.log("no error");
    } catch (e) {
      console.log(String(e));
    }
    // the pool still works afterwards
    const b = rt.heap.alloc(16 * 4);
    rt.run("myop", "unary", [12, b.offset, b.offset, 16], true);
    console.log("still works");
  `;
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { DENET_THREADS: "2", XDG_RUNTIME_DIR: "/tmp" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const out = new TextDecoder().decode(p.stdout);
  assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
  assert.match(out, /Error: myop: CPU kernel sum_runs failed in worker 1: .*out of bounds/);
  assert.match(out, /still works/);
});

Deno.test("cpu backend: bad input gives the same errors as the other devices", () => {
  assert.throws(
    () => dn.matmul(dn.ones([2, 3]), dn.ones([4, 5])),
    /matmul: inner dimensions differ/,
  );
  assert.throws(
    () => dn.add(dn.ones([2, 3]), dn.ones([2, 3], { dtype: "f64" })),
    /add: inputs have different dtypes/,
  );
  assert.throws(() => dn.conv4(dn.ones([2, 3, 3, 3]), dn.ones([1, 2, 5, 5])), /conv4: channel/);
  assert.throws(() => dn.pool(dn.ones([2, 3])), /pool: needs a 4-D input/);
});
