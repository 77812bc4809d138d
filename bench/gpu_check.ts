/**
 * One device check for the GPU path (issue 12): adapter, pipeline compile times, the host
 * overhead of a dispatch (op path → runtime → bind group → raw pass, beside
 * tfjs-webgpu's), GEMM GFLOP/s, reduction and elementwise bandwidth against a copy
 * ceiling, softmax/nll, and MLP/LeNet training steps with their counters.
 *
 * The JSON report is rewritten whole (a temporary file, then a rename) after each
 * section, so a run cut short by a timeout keeps every section it finished. Each section
 * records its wall seconds; one that throws records `{ error }` and the run goes on.
 *
 * ```sh
 * deno run -A bench/gpu_check.ts [--size tiny|small|full] [--out gpu_check.json]
 *   [--sections adapter,compile,...] [--no-tfjs]
 * ```
 *
 * - `--size tiny`: seconds on llvmpipe (the test's size); `small`: a minute or two on
 *   llvmpipe; `full` (default): the sizes meant for a hardware GPU (GEMM up to 4096²,
 *   256 MiB vectors, MLP and LeNet at batch 100 and 1000), under 8 minutes there.
 * - `--no-tfjs`: skip tfjs-webgpu in the host-overhead ladder (it needs the npm cache).
 * - `--sections a,b`: only those sections (adapter, compile, overhead, gemm, bandwidth,
 *   softmax, training).
 *
 * The overhead ladder encodes each chain with one submit at its end (the runtime's submit
 * threshold, and tfjs' `WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE`, are raised to the chain's
 * length for it), and also reports the op path at the runtime's own threshold: on a
 * software adapter a submit mid-chain runs kernels on the cores that encode.
 *
 * On the device machine (see the device tool's README): Deno is not installed there and
 * its binary is over the 64 MiB a call may carry, so carry it compressed, with the Vulkan
 * loader. Once, here, in the repository root:
 *
 * ```sh
 * echo /.gl/ >>.git/info/exclude; echo /.denobin/ >>.git/info/exclude
 * mkdir -p .denobin && xz -9 -T2 -c "$(which deno)" >.denobin/deno.xz
 * # the Vulkan loader: the README's apt-get download of libvulkan1 ... into .gl/
 * ```
 *
 * and run (carry [".gl", ".denobin"], timeout ≤ 600 s). Without network there, the tfjs
 * column needs its npm packages carried too (`$DENO_DIR/npm`, about 95 MB unpacked: more
 * than a call carries beside Deno), hence `--no-tfjs`; `--cached-only` runs without them.
 *
 * ```sh
 * for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; xz -dc .denobin/deno.xz >/tmp/deno;
 * chmod +x /tmp/deno; export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json;
 * XDG_RUNTIME_DIR=/tmp /tmp/deno run -A bench/gpu_check.ts --size full --no-tfjs --out $OUT/gpu_check.json
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as dn from "../internals.ts";
import type { DispatchSpec, GpuRuntime } from "../src/gpu/runtime.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import { initialWeights, knetModel, type RowName } from "./knet_models.ts";
import { loadTfjs, type Tf } from "./peers/tfjs_train.ts";
import { gbps, gemmGflops, timeGpu } from "./timing.ts";

/** How big the check runs. */
export type CheckSize = "tiny" | "small" | "full";

/** The sections, in the order they run. */
export const SECTIONS = [
  "adapter",
  "compile",
  "overhead",
  "gemm",
  "bandwidth",
  "softmax",
  "training",
] as const;

/** One section's name. */
export type SectionName = typeof SECTIONS[number];

/** What one section recorded: its wall seconds and either its figures or its error. */
export type SectionResult = { seconds: number; error?: string } & Record<string, unknown>;

/** The whole report, as written to the JSON file. */
export interface GpuCheckReport {
  /** The size the run used. */
  size: CheckSize;
  /** ISO time the run started. */
  started: string;
  /** Deno and V8 versions. */
  deno: string;
  /** The adapter's description (filled in by the adapter section, else ""). */
  adapter: string;
  /** Whether the run finished every section it was asked for. */
  complete: boolean;
  /** The sections run so far, by name. */
  sections: Partial<Record<SectionName, SectionResult>>;
}

/** Hooks for tests (not on the command line). */
export interface GpuCheckHooks {
  /** Called after each section's JSON was written, with the report so far. */
  onSection?: (name: SectionName, report: GpuCheckReport) => void | Promise<void>;
  /** This section throws at its start (to check that the run records it and goes on). */
  failSection?: SectionName;
  /** Print nothing (the summary lines go to this function instead, when given). */
  log?: (line: string) => void;
}

/** The sizes of each section at each {@link CheckSize}. */
interface Plan {
  /** Minimum timed span of one measurement (ms). */
  minMs: number;
  /** Ops per host-overhead trial, and trials. */
  ladderOps: number;
  ladderTrials: number;
  gemmSizes: number[];
  /** Elements of the bandwidth vectors. */
  vector: number;
  softmaxShapes: [number, number][];
  trainBatches: number[];
  trainSteps: number;
}

const PLANS: Record<CheckSize, Plan> = {
  tiny: {
    minMs: 15,
    ladderOps: 200,
    ladderTrials: 3,
    gemmSizes: [64, 128],
    vector: 1 << 16,
    softmaxShapes: [[100, 10], [16, 1000], [2, 5000]],
    trainBatches: [8],
    trainSteps: 2,
  },
  small: {
    minMs: 100,
    ladderOps: 1000,
    ladderTrials: 5,
    gemmSizes: [256, 512],
    vector: 1 << 22,
    softmaxShapes: [[100, 10], [256, 1000], [8, 50000]],
    trainBatches: [100],
    trainSteps: 5,
  },
  full: {
    minMs: 300,
    ladderOps: 2000,
    ladderTrials: 7,
    gemmSizes: [1024, 2048, 4096],
    vector: 1 << 26,
    softmaxShapes: [[100, 10], [256, 1000], [64, 50000]],
    trainBatches: [100, 1000],
    trainSteps: 50,
  },
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const round = (x: number, digits = 3): number => Number(x.toPrecision(digits));

/** Runs `f` with `rt.dispatch` recording the specs it is given (and still dispatching). */
function captureDispatches<T>(rt: GpuRuntime, f: () => T): { result: T; specs: DispatchSpec[] } {
  const specs: DispatchSpec[] = [];
  const own = Object.getOwnPropertyDescriptor(rt, "dispatch");
  const orig = rt.dispatch;
  rt.dispatch = (spec: DispatchSpec) => {
    specs.push(spec);
    orig.call(rt, spec);
  };
  try {
    return { result: f(), specs };
  } finally {
    if (own) Object.defineProperty(rt, "dispatch", own);
    else delete (rt as { dispatch?: unknown }).dispatch;
  }
}

/** Host ms of a synchronous `f` (median of `trials` runs, each followed by an untimed sync). */
async function hostMs(rt: GpuRuntime, trials: number, f: () => void): Promise<number[]> {
  f();
  await rt.sync();
  const out: number[] = [];
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    f();
    out.push(performance.now() - t0);
    await rt.sync();
  }
  return out;
}

/** Throws the validation error `f` raised on `device`, if any. */
async function validated<T>(device: GPUDevice, what: string, f: () => T): Promise<T> {
  device.pushErrorScope("validation");
  const r = f();
  const err = await device.popErrorScope();
  if (err) throw new Error(`${what}: ${err.message}`);
  return r;
}

const gpu = { device: "gpu" } as const;

function labels(n: number, classes: number): Tensor {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (i * 7) % classes;
  return dn.fromArray(v, { shape: [n], device: "gpu" });
}

// ---------------------------------------------------------------------------- sections

async function adapterSection(rt: GpuRuntime): Promise<Record<string, unknown>> {
  const info = rt.info;
  await dn.init(); // "auto": what a user gets without asking
  const choice = dn.deviceChoice();
  const profile = dn.gpuProfile();
  return {
    description: info.description,
    vendor: info.vendor,
    architecture: info.architecture,
    isFallbackAdapter: info.isFallbackAdapter,
    isSoftware: dn.isSoftwareAdapter(info),
    features: info.features,
    limits: info.limits,
    profile: profile.name,
    profileReason: dn.gpuProfileReason(),
    profileSettings: { ...profile },
    defaultDevice: choice.device,
    defaultDeviceReason: choice.reason,
    maxDispatchesPerSubmit: rt.maxDispatchesPerSubmit,
  };
}

/** Ops whose first call compiles their pipelines: each builds its inputs and returns a run. */
function compileCases(): Record<string, () => { run: () => Tensor; inputs: Tensor[] }> {
  return {
    gemm: () => {
      const a = dn.randn([256, 256], gpu);
      const b = dn.randn([256, 256], gpu);
      return { run: () => dn.gemm(a, b), inputs: [a, b] };
    },
    add: () => {
      const a = dn.randn([100, 64], gpu);
      const b = dn.randn([64], gpu);
      return { run: () => dn.add(a, b), inputs: [a, b] };
    },
    relu: () => {
      const a = dn.randn([100, 64], gpu);
      return { run: () => dn.relu(a), inputs: [a] };
    },
    sum: () => {
      const a = dn.randn([1000, 100], gpu);
      return { run: () => dn.sum(a, 0), inputs: [a] };
    },
    softmax: () => {
      const a = dn.randn([100, 10], gpu);
      return { run: () => dn.softmax(a), inputs: [a] };
    },
    nll: () => {
      const a = dn.randn([100, 10], gpu);
      const y = labels(100, 10);
      return { run: () => dn.nll(a, y), inputs: [a, y] };
    },
    conv4: () => {
      const w = dn.randn([20, 1, 5, 5], gpu);
      const x = dn.randn([8, 1, 28, 28], gpu);
      return { run: () => dn.conv4(w, x), inputs: [w, x] };
    },
    pool: () => {
      const x = dn.randn([8, 20, 24, 24], gpu);
      return { run: () => dn.pool(x), inputs: [x] };
    },
    rnn_cell: () => {
      const layer = new dn.RNN(16, 16, { rnnType: "lstm", device: "gpu" });
      const x = dn.randn([4, 8, 16], gpu);
      const ps = dn.params(layer);
      return { run: () => layer.forward(x), inputs: [x, ...ps] };
    },
    "relu backward": () => {
      const p = dn.param(dn.randn([100, 64], gpu));
      return {
        run: () => {
          const r = dn.diff(() => dn.sum(dn.relu(p)));
          const g = r.take(p)!;
          r.dispose();
          return g;
        },
        inputs: [p],
      };
    },
  };
}

async function compileSection(rt: GpuRuntime): Promise<Record<string, unknown>> {
  const ops: Record<string, unknown> = {};
  for (const [name, make] of Object.entries(compileCases())) {
    const { run, inputs } = make();
    await rt.sync();
    try {
      const timeOnce = async () => {
        dn.resetCounters();
        const t0 = performance.now();
        run().dispose();
        await rt.sync();
        return { ms: performance.now() - t0, c: dn.counters() };
      };
      const first = await timeOnce();
      const second = await timeOnce();
      ops[name] = {
        firstMs: round(first.ms),
        secondMs: round(second.ms),
        compileMs: round(Math.max(0, first.ms - second.ms)),
        pipelinesCompiled: first.c.pipelinesCompiled,
        dispatches: second.c.dispatches,
      };
    } finally {
      inputs.forEach((t) => t.dispose());
    }
  }
  return { ops };
}

/** µs per op of `relu(add(y, b))` chains in tfjs-webgpu, or why it did not run. */
async function tfjsLadder(
  plan: Plan,
  batchSize: number,
): Promise<{ usPerOp: number | null; note: string; batchSize: number }> {
  const { tf, reason } = await loadTfjs("webgpu");
  if (!tf) return { usPerOp: null, note: reason, batchSize };
  const t = tf as Tf;
  t.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", batchSize);
  const y0 = t.randomNormal([100, 64]);
  const b = t.mul(t.randomNormal([64]), 0.01);
  const iters = plan.ladderOps / 2;
  const backend = t.backend();
  const chain = () => {
    const out = t.tidy(() => {
      let y = y0;
      for (let i = 0; i < iters; i++) y = t.relu(t.add(y, b));
      return y;
    });
    backend.endComputePassEncoder?.();
    if (backend.commandEncoder) backend.submitQueue?.();
    return out;
  };
  const trials: number[] = [];
  for (let k = 0; k <= plan.ladderTrials; k++) {
    const t0 = performance.now();
    const out = chain();
    const ms = performance.now() - t0;
    await out.data();
    out.dispose();
    if (k > 0) trials.push(ms); // the first one compiles
  }
  y0.dispose();
  b.dispose();
  return { usPerOp: round((median(trials) * 1000) / plan.ladderOps), note: "", batchSize };
}

/** Steps (b)–(d) of the ladder: µs per runtime.dispatch, createBindGroup and raw dispatch. */
async function lowerRungs(
  rt: GpuRuntime,
  plan: Plan,
  y0: Tensor,
  oneSubmit: <T>(f: () => Promise<T>) => Promise<T>,
): Promise<Record<string, number | string>> {
  const n = plan.ladderOps;
  const ownBuffers: GPUBuffer[] = [];
  try {
    // (b) runtime.dispatch with a prepared spec (the one relu(y) encodes)
    const { result: r, specs } = captureDispatches(rt, () => dn.relu(y0));
    if (specs.length !== 1) {
      r.dispose();
      throw new Error(`relu encoded ${specs.length} dispatches through rt.dispatch, expected 1`);
    }
    const spec = specs[0];
    const runtimeTrials = await oneSubmit(() =>
      hostMs(rt, plan.ladderTrials, () => {
        for (let i = 0; i < n; i++) rt.dispatch(spec);
        rt.flush();
      })
    );
    const runtimeDispatch = (median(runtimeTrials) * 1000) / n;

    // (c) device.createBindGroup alone, for that pipeline and those buffers
    const device = rt.device;
    let mask = 0;
    spec.buffers.forEach((buf, i) => {
      if (buf !== null) mask += 2 ** (i + 1);
    });
    const p = rt.pipeline(spec.kernel, spec.constants, spec.entryPoint, mask);
    const uniform = device.createBuffer({
      size: 256,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "gpu_check uniforms",
    });
    ownBuffers.push(uniform);
    device.queue.writeBuffer(uniform, 0, spec.uniforms);
    const entries: GPUBindGroupEntry[] = [{
      binding: 0,
      resource: { buffer: uniform, offset: 0, size: 256 },
    }];
    spec.buffers.forEach((buf, i) => {
      if (buf) {
        entries.push({
          binding: i + 1,
          resource: buf instanceof GPUBuffer ? { buffer: buf } : buf,
        });
      }
    });
    const descriptor: GPUBindGroupDescriptor = { layout: p.layout, entries };
    const bg = await validated(device, "createBindGroup", () => device.createBindGroup(descriptor));
    const bgTrials: number[] = [];
    for (let t = 0; t <= plan.ladderTrials; t++) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) device.createBindGroup(descriptor);
      if (t > 0) bgTrials.push(performance.now() - t0);
    }
    const bindGroup = (median(bgTrials) * 1000) / n;

    // (d) raw passes: setPipeline + setBindGroup + dispatchWorkgroups, and dispatch alone
    const [wx, wy = 1, wz = 1] = spec.workgroups;
    const offsets = new Uint32Array(1);
    const raw = async (full: boolean) => {
      const trials: number[] = [];
      for (let t = 0; t <= plan.ladderTrials; t++) {
        await validated(device, "raw dispatch", () => {
          const t0 = performance.now();
          const enc = device.createCommandEncoder();
          const pass = enc.beginComputePass();
          pass.setPipeline(p.pipeline);
          pass.setBindGroup(0, bg, offsets, 0, 1);
          for (let i = 0; i < n; i++) {
            if (full) {
              pass.setPipeline(p.pipeline);
              pass.setBindGroup(0, bg, offsets, 0, 1);
            }
            pass.dispatchWorkgroups(wx, wy, wz);
          }
          pass.end();
          device.queue.submit([enc.finish()]);
          if (t > 0) trials.push(performance.now() - t0);
        });
        await device.queue.onSubmittedWorkDone();
      }
      return (median(trials) * 1000) / n;
    };
    const rawFull = await raw(true);
    const rawDispatchOnly = await raw(false);
    r.dispose();
    return {
      runtimeDispatch: round(runtimeDispatch),
      createBindGroup: round(bindGroup),
      rawSetAndDispatch: round(rawFull),
      rawDispatchOnly: round(rawDispatchOnly),
      kernel: spec.kernel,
    };
  } finally {
    ownBuffers.forEach((x) => x.destroy());
  }
}

async function overheadSection(
  rt: GpuRuntime,
  plan: Plan,
  withTfjs: boolean,
): Promise<Record<string, unknown>> {
  const n = plan.ladderOps;
  const y0 = dn.randn([100, 64], gpu);
  const b = dn.mul(dn.randn([64], gpu), 0.01);
  try {
    // (a) the full op path: relu(add(y, b)) chains, encode only, one flush at the end
    const chain = () => {
      let y = y0;
      for (let i = 0; i < n / 2; i++) {
        const s = dn.add(y, b);
        const r = dn.relu(s);
        s.dispose();
        if (y !== y0) y.dispose();
        y = r;
      }
      rt.flush();
      if (y !== y0) y.dispose();
    };
    // One submit per chain: the batch limit is raised to the chain's length (tfjs' deferred
    // submit batch below too). On a software adapter a submit mid-chain starts the kernels
    // on the very cores that encode, which would be counted as host time.
    const defaultBatch = rt.maxDispatchesPerSubmit;
    dn.resetCounters();
    const oneSubmit = async <T>(f: () => Promise<T>): Promise<T> => {
      rt.maxDispatchesPerSubmit = n + 1;
      try {
        return await f();
      } finally {
        rt.maxDispatchesPerSubmit = defaultBatch;
      }
    };
    const opTrials = await oneSubmit(() => hostMs(rt, plan.ladderTrials, chain));
    const opCounters = dn.counters();
    const opPath = (median(opTrials) * 1000) / n;
    // the same chain with the runtime's own submit threshold
    const batchedTrials = await hostMs(rt, Math.min(3, plan.ladderTrials), chain);
    const opPathBatched = (median(batchedTrials) * 1000) / n;

    // (b)–(d); a failure there leaves (a) and tfjs in the report
    let lower: Record<string, number | string>;
    try {
      lower = await lowerRungs(rt, plan, y0, oneSubmit);
    } catch (e) {
      lower = { error: (e as Error).message };
    }

    const tfjs = withTfjs
      ? await tfjsLadder(plan, n + 1).catch((e) => ({
        usPerOp: null,
        note: `tfjs failed: ${(e as Error).message}`,
        batchSize: n + 1,
      }))
      : { usPerOp: null, note: "skipped (--no-tfjs)", batchSize: n + 1 };
    return {
      chain: "relu(add(y, b)), y [100,64], b [64]",
      opsPerTrial: n,
      usPerDispatch: {
        opPath: round(opPath),
        runtimeDispatch: lower.runtimeDispatch,
        createBindGroup: lower.createBindGroup,
        rawSetAndDispatch: lower.rawSetAndDispatch,
        rawDispatchOnly: lower.rawDispatchOnly,
      },
      opPathTrialsMs: opTrials.map((x) => round(x)),
      opPathDispatchesPerSubmit: round(opCounters.dispatches / opCounters.submits),
      opPathWithDefaultBatching: {
        usPerDispatch: round(opPathBatched),
        maxDispatchesPerSubmit: defaultBatch,
      },
      opPathDispatchesPerOp: round(opCounters.dispatches / ((plan.ladderTrials + 1) * n)),
      opPathBindGroupsCreated: opCounters.bindGroupsCreated,
      lowerRungsKernel: lower.kernel,
      lowerRungsError: lower.error,
      tfjsWebgpu: {
        usPerOp: tfjs.usPerOp,
        deferredSubmitBatchSize: tfjs.batchSize,
        note: tfjs.note,
      },
      ratioDenetOverTfjs: tfjs.usPerOp ? round(opPath / tfjs.usPerOp) : null,
    };
  } finally {
    y0.dispose();
    b.dispose();
  }
}

/** The training-shape GEMMs (batch 100): forward and the two backward products of each. */
const TRAINING_GEMMS: {
  name: string;
  m: number;
  n: number;
  k: number;
  tA?: boolean;
  tB?: boolean;
}[] = [
  { name: "mlp fwd x·W1", m: 100, n: 64, k: 784 },
  { name: "mlp bwd xᵀ·dy (dW1)", m: 784, n: 64, k: 100, tA: true },
  { name: "mlp fwd h·W2", m: 100, n: 10, k: 64 },
  { name: "mlp bwd dy·W2ᵀ (dh)", m: 100, n: 64, k: 10, tB: true },
  { name: "mlp bwd hᵀ·dy (dW2)", m: 64, n: 10, k: 100, tA: true },
  { name: "lenet conv1 im2col", m: 57600, n: 20, k: 25 },
  { name: "lenet conv2 im2col", m: 6400, n: 50, k: 500 },
  { name: "lenet conv2 bwd dW", m: 500, n: 50, k: 6400, tA: true },
  { name: "lenet conv2 bwd dcols", m: 6400, n: 500, k: 50, tB: true },
  { name: "lenet fwd x3·W3", m: 100, n: 500, k: 800 },
  { name: "lenet bwd x3ᵀ·dy (dW3)", m: 800, n: 500, k: 100, tA: true },
  { name: "lenet bwd dy·W3ᵀ", m: 100, n: 800, k: 500, tB: true },
  { name: "lenet fwd ·W4", m: 100, n: 10, k: 500 },
];

/** A GEMM's operands for op(A) M×K and op(B) K×N in the stored layouts. */
function gemmOperands(m: number, n: number, k: number, tA = false, tB = false): [Tensor, Tensor] {
  return [
    dn.randn(tA ? [k, m] : [m, k], gpu),
    dn.randn(tB ? [n, k] : [k, n], gpu),
  ];
}

/** Compares one small GEMM per transpose pair with the CPU backend's. */
async function verifyGemm(size: number): Promise<Record<string, unknown>> {
  const cases: Record<string, unknown>[] = [];
  let ok = true;
  for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
    const m = size + 3, n = size - 5, k = size + 9; // not multiples of any tile
    const [a, b] = gemmOperands(m, n, k, tA, tB);
    const c = dn.gemm(a, b, { transA: tA, transB: tB });
    const [ha, hb, hc] = await dn.readAll([a, b, c]);
    const ac = dn.fromArray(ha as Float32Array, { shape: a.shape, device: "cpu" });
    const bc = dn.fromArray(hb as Float32Array, { shape: b.shape, device: "cpu" });
    const ref = dn.gemm(ac, bc, { transA: tA, transB: tB });
    const hr = ref.host("gpu_check");
    let maxAbs = 0;
    let maxRef = 0;
    for (let i = 0; i < hr.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(hc[i] - hr[i]));
      maxRef = Math.max(maxRef, Math.abs(hr[i]));
    }
    // f32 sums of k products of unit normals: errors grow like √k·eps·|terms|
    const tol = 1e-5 * Math.sqrt(k) * Math.max(1, maxRef);
    const pass = hc.length === m * n && hr.length === m * n && maxAbs <= tol;
    ok &&= pass;
    cases.push({ m, n, k, transA: tA, transB: tB, maxAbsErr: maxAbs, tol: round(tol), pass });
    [a, b, c, ac, bc, ref].forEach((t) => t.dispose());
  }
  return { ok, cases };
}

async function gemmSection(rt: GpuRuntime, plan: Plan): Promise<Record<string, unknown>> {
  const verify = await verifyGemm(Math.min(plan.gemmSizes[0], 128));
  if (!verify.ok) throw new Error(`gemm disagrees with the CPU: ${JSON.stringify(verify.cases)}`);
  const square: Record<string, unknown>[] = [];
  for (const s of plan.gemmSizes) {
    for (const [tA, tB] of [[false, false], [true, false], [false, true]]) {
      const [a, b] = gemmOperands(s, s, s, tA, tB);
      const t = await timeGpu(() => dn.gemm(a, b, { transA: tA, transB: tB }), plan.minMs);
      square.push({
        size: s,
        transA: tA,
        transB: tB,
        ms: round(t.ms),
        reps: t.reps,
        gflops: round(gemmGflops(s, s, s, t.ms)),
      });
      a.dispose();
      b.dispose();
    }
  }
  const training: Record<string, unknown>[] = [];
  for (const g of TRAINING_GEMMS) {
    const [a, b] = gemmOperands(g.m, g.n, g.k, g.tA, g.tB);
    const opts = { transA: g.tA ?? false, transB: g.tB ?? false };
    dn.resetCounters();
    const first = dn.gemm(a, b, opts);
    const dispatches = dn.counters().dispatches;
    first.dispose();
    const t = await timeGpu(() => dn.gemm(a, b, opts), plan.minMs);
    training.push({
      name: g.name,
      m: g.m,
      n: g.n,
      k: g.k,
      us: round(t.ms * 1000),
      gflops: round(gemmGflops(g.m, g.n, g.k, t.ms)),
      dispatches,
    });
    a.dispose();
    b.dispose();
  }
  await rt.sync();
  return { verify, square, training };
}

async function bandwidthSection(rt: GpuRuntime, plan: Plan): Promise<Record<string, unknown>> {
  const n = plan.vector;
  const bytes = 4 * n;
  const x = dn.randn([n], gpu);
  const y = dn.randn([n], gpu);
  const dst = dn.zeros([n], gpu);
  try {
    const src = x.buffer("gpu_check");
    const out = dst.buffer("gpu_check");
    const copy = await timeGpu(() => rt.copy(src, 0, out, 0, bytes), plan.minMs);
    const sum = await timeGpu(() => dn.sum(x), plan.minMs);
    const add = await timeGpu(() => dn.add(x, y), plan.minMs);
    // the sum is checked so that the figure is of a reduction that ran
    const [hs, hx] = await dn.readAll([dn.sum(x), x]);
    let want = 0;
    for (let i = 0; i < n; i++) want += hx[i];
    const sumErr = Math.abs(hs[0] - want);
    if (!(sumErr <= 1e-3 * Math.sqrt(n))) {
      throw new Error(`sum of ${n} elements is ${hs[0]}, expected ${want}`);
    }
    const copyGBs = gbps(2 * bytes, copy.ms);
    return {
      elements: n,
      copyBufferToBuffer: { ms: round(copy.ms), gbps: round(copyGBs), bytesMoved: 2 * bytes },
      sum: {
        ms: round(sum.ms),
        gbps: round(gbps(bytes, sum.ms)),
        ofCeiling: round(gbps(bytes, sum.ms) / copyGBs),
        absErr: sumErr,
      },
      add: {
        ms: round(add.ms),
        gbps: round(gbps(3 * bytes, add.ms)),
        ofCeiling: round(gbps(3 * bytes, add.ms) / copyGBs),
      },
    };
  } finally {
    [x, y, dst].forEach((t) => t.dispose());
  }
}

async function softmaxSection(rt: GpuRuntime, plan: Plan): Promise<Record<string, unknown>> {
  const rows: Record<string, unknown>[] = [];
  for (const [n, c] of plan.softmaxShapes) {
    const p = dn.param(dn.randn([n, c], gpu));
    const y = labels(n, c);
    const step = () => {
      const r = dn.diff(() => dn.nll(p, y));
      const g = r.take(p)!;
      r.dispose();
      return g;
    };
    dn.resetCounters();
    step().dispose();
    const dispatches = dn.counters().dispatches;
    const t = await timeGpu(step, plan.minMs);
    rows.push({ shape: [n, c], usPerFwdBwd: round(t.ms * 1000), reps: t.reps, dispatches });
    p.dispose();
    y.dispose();
  }
  await rt.sync();
  return { rows };
}

async function trainingSection(rt: GpuRuntime, plan: Plan): Promise<Record<string, unknown>> {
  const runs: Record<string, unknown>[] = [];
  for (const row of ["mlp", "lenet"] as RowName[]) {
    const weights = initialWeights(row);
    for (const batch of plan.trainBatches) {
      const x = dn.randn(row === "mlp" ? [batch, 784] : [batch, 1, 28, 28], gpu);
      const y = labels(batch, 10);
      const m = knetModel(row, weights, "gpu");
      try {
        const steps = plan.trainSteps;
        const warm = 2;
        const data = {
          *[Symbol.iterator]() {
            for (let i = 0; i < warm + steps; i++) yield [x, y] as const;
          },
        };
        const it = dn.sgd(m.loss, data, { lr: 0.01 })[Symbol.iterator]();
        for (let i = 0; i < warm; i++) it.next();
        await rt.sync();
        dn.resetCounters();
        let encodeMs = 0;
        let last: Tensor | null = null;
        const t0 = performance.now();
        for (let i = 0; i < steps; i++) {
          const s = performance.now();
          const r = it.next();
          encodeMs += performance.now() - s;
          if (!r.done) last = r.value;
        }
        const loss = last ? (await last.data())[0] : NaN;
        const wallMs = performance.now() - t0;
        const c = dn.counters();
        it.return?.();
        if (!Number.isFinite(loss)) throw new Error(`${row} batch ${batch}: loss ${loss}`);
        runs.push({
          model: row,
          batch,
          steps,
          stepsPerSec: round((1000 * steps) / wallMs),
          wallMsPerStep: round(wallMs / steps),
          hostEncodeMsPerStep: round(encodeMs / steps),
          dispatchesPerStep: round(c.dispatches / steps),
          submitsPerStep: round(c.submits / steps),
          hostSyncsPerStep: round(c.hostSyncs / steps),
          bindGroupsCreated: c.bindGroupsCreated,
          finalLoss: loss,
        });
      } finally {
        m.dispose();
        x.dispose();
        y.dispose();
      }
    }
  }
  return { runs };
}

// ---------------------------------------------------------------------------- driver

/** Writes `report` to `path` atomically (a temporary file beside it, then a rename). */
async function writeReport(path: string, report: GpuCheckReport): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, JSON.stringify(report, null, 2) + "\n");
  await Deno.rename(tmp, path);
}

/** One human line per section. */
function summary(name: SectionName, r: SectionResult): string {
  const head = `${name.padEnd(9)} ${r.seconds.toFixed(1).padStart(6)} s  `;
  if (r.error) return `${head}ERROR ${r.error}`;
  const f = (x: unknown) => (typeof x === "number" ? String(x) : "–");
  switch (name) {
    case "adapter":
      return `${head}${r.description} (profile ${r.profile}; default device ${r.defaultDevice})`;
    case "compile": {
      const ops = r.ops as Record<string, { compileMs: number }>;
      return head + Object.entries(ops).map(([k, v]) => `${k} ${v.compileMs} ms`).join(", ");
    }
    case "overhead": {
      const u = r.usPerDispatch as Record<string, number>;
      const t = r.tfjsWebgpu as { usPerOp: number | null; note: string };
      return `${head}µs/dispatch: op path ${u.opPath}, runtime ${u.runtimeDispatch}, ` +
        `createBindGroup ${u.createBindGroup}, raw ${u.rawSetAndDispatch} ` +
        `(dispatch only ${u.rawDispatchOnly}); op path submitting every ` +
        `${
          (r.opPathWithDefaultBatching as { maxDispatchesPerSubmit: number }).maxDispatchesPerSubmit
        } ` +
        `${(r.opPathWithDefaultBatching as { usPerDispatch: number }).usPerDispatch}; ` +
        `tfjs-webgpu ${f(t.usPerOp)} µs/op` +
        (r.ratioDenetOverTfjs !== null ? ` (denet/tfjs ${r.ratioDenetOverTfjs})` : ` (${t.note})`);
    }
    case "gemm": {
      const sq = r.square as { size: number; transA: boolean; transB: boolean; gflops: number }[];
      return head +
        sq.map((s) => `${s.size}${s.transA ? "ᵀ" : ""}${s.transB ? "·ᵀ" : ""} ${s.gflops}`).join(
          ", ",
        ) + " GFLOP/s; verified " + String((r.verify as { ok: boolean }).ok);
    }
    case "bandwidth": {
      const g = (k: string) => (r[k] as { gbps: number }).gbps;
      return `${head}GB/s: copy ${g("copyBufferToBuffer")}, sum ${g("sum")}, add ${g("add")} ` +
        `(${r.elements} floats)`;
    }
    case "softmax": {
      const rows = r.rows as { shape: number[]; usPerFwdBwd: number }[];
      return head + rows.map((x) => `[${x.shape}] ${x.usPerFwdBwd} µs`).join(", ");
    }
    case "training": {
      const runs = r.runs as {
        model: string;
        batch: number;
        stepsPerSec: number;
        dispatchesPerStep: number;
        hostEncodeMsPerStep: number;
        wallMsPerStep: number;
      }[];
      return head +
        runs.map((x) =>
          `${x.model}@${x.batch} ${x.stepsPerSec} steps/s, ${x.dispatchesPerStep} disp/step, ` +
          `encode ${x.hostEncodeMsPerStep}/${x.wallMsPerStep} ms`
        ).join("; ");
    }
  }
}

/** Options of {@link runGpuCheck}. */
export interface GpuCheckOptions {
  /** Run size (default "full"). */
  size?: CheckSize;
  /** JSON path (default "gpu_check.json"). */
  out?: string;
  /** Sections to run (default: all, in {@link SECTIONS}' order). */
  sections?: readonly SectionName[];
  /** Run tfjs-webgpu in the overhead section (default true). */
  tfjs?: boolean;
}

/**
 * Runs the check: initialises the GPU, runs each section, rewrites the JSON at `out`
 * after each one, prints a line per section, and returns the report.
 */
export async function runGpuCheck(
  opts: GpuCheckOptions = {},
  hooks: GpuCheckHooks = {},
): Promise<GpuCheckReport> {
  const size = opts.size ?? "full";
  const plan = PLANS[size];
  if (!plan) throw new Error(`gpu_check: --size must be tiny, small or full, got "${size}"`);
  const out = opts.out ?? "gpu_check.json";
  const wanted = opts.sections ?? SECTIONS;
  for (const s of wanted) {
    if (!SECTIONS.includes(s)) {
      throw new Error(`gpu_check: unknown section "${s}" (expected ${SECTIONS.join(", ")})`);
    }
  }
  const log = hooks.log ?? ((line: string) => console.log(line));
  const report: GpuCheckReport = {
    size,
    started: new Date().toISOString(),
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    adapter: "",
    complete: false,
    sections: {},
  };
  await dn.initGpu();
  const rt = dn.gpuRuntime();
  report.adapter = rt.info.description;
  const runners: Record<SectionName, () => Promise<Record<string, unknown>>> = {
    adapter: () => adapterSection(rt),
    compile: () => compileSection(rt),
    overhead: () => overheadSection(rt, plan, opts.tfjs ?? true),
    gemm: () => gemmSection(rt, plan),
    bandwidth: () => bandwidthSection(rt, plan),
    softmax: () => softmaxSection(rt, plan),
    training: () => trainingSection(rt, plan),
  };
  log(`gpu_check --size ${size} on ${rt.info.description} → ${out}`);
  for (const name of SECTIONS) {
    if (!wanted.includes(name)) continue;
    const t0 = performance.now();
    let result: SectionResult;
    try {
      if (hooks.failSection === name) throw new Error(`forced failure of section ${name}`);
      const r = await runners[name]();
      result = { seconds: 0, ...r };
    } catch (e) {
      result = { seconds: 0, error: (e as Error).message };
      // leave the runtime usable for the next section
      await rt.sync().catch(() => {});
    }
    result.seconds = round((performance.now() - t0) / 1000);
    report.sections[name] = result;
    await writeReport(out, report);
    log(summary(name, result));
    await hooks.onSection?.(name, report);
  }
  report.complete = true;
  await writeReport(out, report);
  return report;
}

/** The command line: parses `args` (see the module doc) and runs {@link runGpuCheck}. */
export async function main(args: string[], hooks: GpuCheckHooks = {}): Promise<GpuCheckReport> {
  const { values } = parseArgs({
    args,
    options: {
      size: { type: "string", default: "full" },
      out: { type: "string", default: "gpu_check.json" },
      sections: { type: "string" },
      "no-tfjs": { type: "boolean", default: false },
    },
    strict: true,
  });
  return await runGpuCheck({
    size: values.size as CheckSize,
    out: values.out,
    sections: values.sections?.split(",").map((s) => s.trim()) as SectionName[] | undefined,
    tfjs: !values["no-tfjs"],
  }, hooks);
}

if (import.meta.main) {
  dn.quietDriverEnv();
  await main(Deno.args);
  Deno.exit(0); // the CPU backend's workers and tfjs keep the event loop alive
}
