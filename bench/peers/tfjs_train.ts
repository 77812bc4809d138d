/**
 * Peer benchmark: the four trainings of Knet's benchmark table (see `bench/knet_models.ts`)
 * in TensorFlow.js 4.22.0 (tfjs-core with tfjs-backend-webgpu or tfjs-backend-wasm), inside
 * Deno, in the same process as denet.
 *
 * Same work as denet's side: the same initial weights (converted to tfjs' layouts, below),
 * the same minibatches in the same order, the same loss, plain SGD (`tf.train.sgd(lr)`,
 * `optimizer.minimize`), and the loss is read back once per epoch (LinReg: once at the
 * end), never per step. Each batch is uploaded at its step (`tf.tensor` on a view of the
 * host array), as denet's `minibatch` uploads its batches; LinReg's one batch is uploaded
 * once.
 *
 * Layouts: dense weights [in, out] and biases are as denet's. tfjs convolves NHWC images
 * with [kH, kW, I, O] filters by cross-correlation, while denet's `conv4` (Knet's mode 0)
 * flips the filter: a denet filter w[o, i, u, v] becomes f[K−1−u, K−1−v, i, o], so both
 * compute the same function. MNIST images [N, 1, 28, 28] have the same memory as NHWC
 * [N, 28, 28, 1]. denet flattens LeNet's [N, 50, 4, 4] as (c, h, w) and tfjs' [N, 4, 4, 50]
 * as (h, w, c), so the rows of the first dense weight are permuted to match.
 *
 * What tfjs needs in Deno (checked with 4.22.0, Deno 2.9.6):
 * - Deno loads the packages' node builds (`main`). tfjs-core's node build registers no
 *   gradients (the `@tensorflow/tfjs` union package does that by importing
 *   `@tensorflow/tfjs-core/dist/register_all_gradients`), and that ESM file cannot be
 *   imported by Deno: tfjs' ESM uses extensionless relative imports. So
 *   {@link loadTfjs} bundles it once with esbuild (the repository's bundler) and imports
 *   the bundle from a `data:` URL, mapping its two bare imports to `npm:long@4.0.0` and
 *   `npm:seedrandom@3.0.5`. Its ops share tfjs' engine and registries (tfjs keeps them on
 *   `globalThis` and duck-types `Tensor`), so the gradients land where `variableGrads`
 *   looks for them.
 * - WebGPU: the backend registers itself at import when `navigator.gpu` exists (see
 *   `bench/peers/tfjs_webgpu.ts`); it asks for its own adapter and device.
 * - WASM: the node build finds its .wasm files next to itself (`__dirname`) and reads them
 *   with `fs`, which works in Deno as is; we still call `setWasmPaths(dir)` with the
 *   package's `dist/` folder, a plain path found with
 *   `import.meta.resolve("@tensorflow/tfjs-backend-wasm")`, so nothing depends on how the
 *   module locates itself. (A `file://` URL prefix works as well.) SIMD is used; threads are
 *   not (the node build's thread pool needs `worker_threads` + SharedArrayBuffer support
 *   it does not detect in Deno), so WASM runs on one core.
 * - tfjs-backend-wasm 4.22.0 has no `Conv2DBackpropFilter` kernel, so LeNet cannot be
 *   differentiated there as is. On that backend the convolution is a `tf.customGrad` whose
 *   filter gradient is WASM's own conv2d on transposed operands
 *   (dW[u,v,i,o] = Σ x[n,y+u,x+v,i]·dy[n,y,x,o] = conv2d(xᵀ [I,H,W,N], dyᵀ [Ho,Wo,N,O]))
 *   and whose input gradient is `conv2dTranspose` (WASM's Conv2DBackpropInput).
 *
 * @module
 */

import type { HostWeight, RowSpec } from "../knet_models.ts";

/** The tfjs-core module namespace (typed loosely: its node build is loaded dynamically). */
// deno-lint-ignore no-explicit-any
export type Tf = any;

/** The tfjs backends this peer runs. */
export type TfjsBackend = "webgpu" | "wasm";

let modulesPromise: Promise<Tf> | null = null;

/** Imports tfjs-core, both backends and the gradient registrations, once. */
function loadModules(): Promise<Tf> {
  if (modulesPromise) return modulesPromise;
  modulesPromise = (async () => {
    const tf = await import("@tensorflow/tfjs-core");
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const gpu = (globalThis.navigator as Navigator & { gpu?: GPU }).gpu;
    if (gpu) await import("@tensorflow/tfjs-backend-webgpu");
    const dist = new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm"));
    wasm.setWasmPaths(decodeURIComponent(dist.pathname));
    await registerGradients();
    return tf;
  })();
  return modulesPromise;
}

/** Bundles and imports tfjs-core's `register_all_gradients` (see the module doc). */
async function registerGradients(): Promise<void> {
  const esbuild = await import("esbuild");
  const entry = new URL(
    "./register_all_gradients.js",
    import.meta.resolve("@tensorflow/tfjs-core"),
  );
  const bare: Record<string, string> = {
    long: "npm:long@4.0.0",
    seedrandom: "npm:seedrandom@3.0.5",
  };
  let code: string;
  try {
    const out = await esbuild.build({
      entryPoints: [decodeURIComponent(entry.pathname)],
      bundle: true,
      format: "esm",
      platform: "neutral",
      write: false,
      logLevel: "error",
      plugins: [{
        name: "tfjs-bare-imports",
        setup(build) {
          build.onResolve({ filter: /^[^./]/ }, (a) => {
            const path = bare[a.path];
            if (!path) throw new Error(`tfjs gradients bundle: unexpected import "${a.path}"`);
            return { path, external: true };
          });
        },
      }],
    });
    code = out.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
  await import(`data:text/javascript,${encodeURIComponent(code)}`);
}

/**
 * tfjs switched to `backend`, or null with the reason when that backend does not start in
 * this process (no WebGPU adapter, ...).
 */
export async function loadTfjs(backend: TfjsBackend): Promise<{ tf: Tf | null; reason: string }> {
  let tf: Tf;
  try {
    tf = await loadModules();
  } catch (e) {
    return { tf: null, reason: `tfjs did not load: ${(e as Error).message}` };
  }
  try {
    if (!(await tf.setBackend(backend))) {
      return { tf: null, reason: `tfjs backend ${backend} did not initialise` };
    }
    await tf.ready();
  } catch (e) {
    return { tf: null, reason: `tfjs backend ${backend}: ${(e as Error).message}` };
  }
  return tf.getBackend() === backend
    ? { tf, reason: "" }
    : { tf: null, reason: `tfjs backend ${backend} is not available` };
}

/** A training set (and optional test set) on the host, in denet's layout. */
export interface HostData {
  /** Training inputs, row-major: N·(per-instance size) values. */
  x: Float32Array;
  /** Training targets: LinReg [N, 1] values; MNIST 0-based labels [N]. */
  y: Float32Array;
  /** Number of training instances. */
  n: number;
  /** Test inputs (MNIST), as x. */
  xtst?: Float32Array;
  /** Test labels (MNIST). */
  ytst?: Float32Array;
  /** Number of test instances to evaluate. */
  ntst?: number;
}

/** How much of a row to run. */
export interface TrainPlan {
  /** Epochs to train. */
  epochs: number;
  /** Steps per epoch (batches of `row.batch` taken in order from the start of the data). */
  stepsPerEpoch: number;
  /** Epochs after which the loss is read back (1-based); the last one always is. */
  readEpochs: ReadonlySet<number>;
  /** Untimed steps run first on a throwaway copy of the model (compiles shaders). */
  warmupSteps: number;
}

/** What one framework measured on one row. */
export interface TrainResult {
  /** Wall seconds of the timed training (the warm-up not included). */
  seconds: number;
  /** Training steps timed. */
  steps: number;
  /** Loss of the last step, read back at the end. */
  finalLoss: number;
  /** Test accuracy after training (MNIST rows), else null. */
  testAccuracy: number | null;
  /** Host readbacks inside the timed training. */
  readbacks: number;
  /** Notes on how this run differs from the plain recipe (empty when it does not). */
  note: string;
}

const IMG = 28 * 28;

/** Converts denet's initial weights to tfjs' layouts for `row` (see the module doc). */
export function tfjsWeights(row: RowSpec, weights: readonly HostWeight[]): HostWeight[] {
  if (row.name !== "lenet") return weights.map((w) => ({ ...w }));
  const [w1, b1, w2, b2, w3, b3, w4, b4] = weights;
  const filter = (w: HostWeight): HostWeight => {
    const [o, i, kh, kw] = w.shape;
    const v = new Float32Array(w.values.length);
    for (let a = 0; a < o; a++) {
      for (let c = 0; c < i; c++) {
        for (let u = 0; u < kh; u++) {
          for (let t = 0; t < kw; t++) {
            const src = ((a * i + c) * kh + u) * kw + t;
            const dst = (((kh - 1 - u) * kw + (kw - 1 - t)) * i + c) * o + a;
            v[dst] = w.values[src];
          }
        }
      }
    }
    return { name: w.name, shape: [kh, kw, i, o], values: v };
  };
  const flatBias = (b: HostWeight): HostWeight => ({
    name: b.name,
    shape: [b.values.length],
    values: b.values,
  });
  // w3 rows: denet's (c, h, w) flattening of [50, 4, 4] → tfjs' (h, w, c).
  const [rows, cols] = w3.shape;
  const C = 50, HW = rows / C;
  const p = new Float32Array(w3.values.length);
  for (let c = 0; c < C; c++) {
    for (let s = 0; s < HW; s++) {
      p.set(w3.values.subarray((c * HW + s) * cols, (c * HW + s + 1) * cols), (s * C + c) * cols);
    }
  }
  return [
    filter(w1),
    flatBias(b1),
    filter(w2),
    flatBias(b2),
    { name: w3.name, shape: [rows, cols], values: p },
    b3,
    w4,
    b4,
  ];
}

/** tfjs' `predict` for `row` over the variables `v` (the x layout per row: see below). */
function predictor(tf: Tf, row: RowSpec, v: Tf[], wasmConv: boolean): (x: Tf) => Tf {
  switch (row.name) {
    case "linreg":
    case "softmax":
      return (x) => tf.add(tf.matMul(x, v[0]), v[1]);
    case "mlp":
      return (x) => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, v[0]), v[1])), v[2]), v[3]);
    case "lenet": {
      const conv = wasmConv
        ? convWithFilterGrad(tf)
        : (x: Tf, f: Tf) => tf.conv2d(x, f, 1, "valid");
      return (x0) => {
        const x1 = tf.maxPool(tf.relu(tf.add(conv(x0, v[0]), v[1])), 2, 2, "valid");
        const x2 = tf.maxPool(tf.relu(tf.add(conv(x1, v[2]), v[3])), 2, 2, "valid");
        const x3 = tf.relu(tf.add(tf.matMul(tf.reshape(x2, [x2.shape[0], -1]), v[4]), v[5]));
        return tf.add(tf.matMul(x3, v[6]), v[7]);
      };
    }
    default:
      throw new Error(`tfjsTrain: unknown row "${String(row.name)}"`);
  }
}

/** conv2d (stride 1, valid) whose gradients use only kernels WASM has (see the module doc). */
function convWithFilterGrad(tf: Tf): (x: Tf, f: Tf) => Tf {
  return tf.customGrad((x: Tf, f: Tf, save: (ts: Tf[]) => void) => {
    save([x, f]);
    return {
      value: tf.conv2d(x, f, 1, "valid"),
      gradFunc: (dy: Tf, [xs, fs]: Tf[]) => {
        const dx = tf.conv2dTranspose(dy, fs, xs.shape, 1, "valid");
        const xt = tf.transpose(xs, [3, 1, 2, 0]); // [I, H, W, N]
        const dyt = tf.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, N, O]
        const df = tf.transpose(tf.conv2d(xt, dyt, 1, "valid"), [1, 2, 0, 3]); // [kH, kW, I, O]
        return [dx, df];
      },
    };
  });
}

/** The loss of `row` on scores/predictions `s` and targets `y` (one-hot for nll). */
function lossOf(tf: Tf, row: RowSpec): (s: Tf, y: Tf) => Tf {
  if (row.loss === "mse") return (s, y) => tf.mean(tf.squaredDifference(s, y));
  // Knet's nll: −Σ ygold .* logp(scores) / N.
  return (s, y) => tf.neg(tf.div(tf.sum(tf.mul(y, tf.logSoftmax(s))), s.shape[0]));
}

/** The batch shape of `row`'s inputs in tfjs' layout. */
function xShape(row: RowSpec, b: number): number[] {
  if (row.name === "linreg") return [b, 13];
  return row.name === "lenet" ? [b, 28, 28, 1] : [b, IMG];
}

function oneHot(labels: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(labels.length * classes);
  labels.forEach((l, i) => (out[i * classes + l] = 1));
  return out;
}

/**
 * Trains `row` with tfjs on `backend` as `plan` says, from `weights` (denet's layout, from
 * `initialWeights`), on `data`; returns the timing, the last loss and the test accuracy.
 */
export async function tfjsTrain(
  backend: TfjsBackend,
  row: RowSpec,
  weights: readonly HostWeight[],
  data: HostData,
  plan: TrainPlan,
): Promise<TrainResult> {
  const { tf, reason } = await loadTfjs(backend);
  if (!tf) throw new Error(reason);
  const wasmConv = row.name === "lenet" && backend === "wasm" &&
    !tf.getKernel("Conv2DBackpropFilter", "wasm");
  const note = wasmConv ? "filter gradient via conv2d (no Conv2DBackpropFilter in tfjs-wasm)" : "";
  const tw = tfjsWeights(row, weights);
  const b = row.batch;
  const perX = row.name === "linreg" ? 13 : IMG;
  const perY = row.loss === "mse" ? 1 : 10;
  const ys = row.loss === "mse" ? data.y : oneHot(data.y, 10);
  const maxSteps = Math.floor(data.n / b);
  if (plan.stepsPerEpoch > maxSteps || plan.stepsPerEpoch < 1) {
    throw new Error(`tfjsTrain: ${row.name} has ${maxSteps} batches of ${b}, plan wants more`);
  }
  const loss = lossOf(tf, row);
  // LinReg: its single batch is uploaded once; MNIST: each step uploads its batch.
  const whole = row.name === "linreg"
    ? [
      tf.tensor(data.x.subarray(0, b * perX), xShape(row, b)),
      tf.tensor(ys.subarray(0, b), [b, 1]),
    ]
    : null;
  const batch = (k: number): [Tf, Tf] =>
    whole ? [whole[0], whole[1]] : [
      tf.tensor(data.x.subarray(k * b * perX, (k + 1) * b * perX), xShape(row, b)),
      tf.tensor(ys.subarray(k * b * perY, (k + 1) * b * perY), [b, perY]),
    ];
  const release = ([x, y]: [Tf, Tf]) => {
    if (!whole) {
      x.dispose();
      y.dispose();
    }
  };
  const makeVars = () =>
    tw.map((w) => tf.variable(tf.tensor(w.values, w.shape), true, undefined, "float32"));
  const step = (opt: Tf, vars: Tf[], predict: (x: Tf) => Tf, k: number): Tf => {
    const bt = batch(k);
    const cost = opt.minimize(() => loss(predict(bt[0]), bt[1]), true, vars);
    release(bt);
    return cost;
  };
  try {
    // Warm-up on a throwaway copy: compiles every shader/kernel the timed run uses.
    {
      const vars = makeVars();
      const opt = tf.train.sgd(row.lr);
      const predict = predictor(tf, row, vars, wasmConv);
      let cost: Tf = null;
      for (let k = 0; k < plan.warmupSteps; k++) {
        cost?.dispose();
        cost = step(opt, vars, predict, k % plan.stepsPerEpoch);
      }
      if (cost) {
        await cost.data();
        cost.dispose();
      }
      opt.dispose();
      vars.forEach((v: Tf) => v.dispose());
    }
    const vars = makeVars();
    const opt = tf.train.sgd(row.lr);
    const predict = predictor(tf, row, vars, wasmConv);
    let finalLoss = NaN;
    let readbacks = 0;
    const t0 = performance.now();
    for (let e = 1; e <= plan.epochs; e++) {
      for (let k = 0; k < plan.stepsPerEpoch; k++) {
        const cost = step(opt, vars, predict, k);
        if (k === plan.stepsPerEpoch - 1 && (plan.readEpochs.has(e) || e === plan.epochs)) {
          finalLoss = (await cost.data())[0];
          readbacks++;
        }
        cost.dispose();
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const testAccuracy = data.xtst && data.ytst ? await tfjsAccuracy(tf, row, predict, data) : null;
    opt.dispose();
    vars.forEach((v: Tf) => v.dispose());
    return {
      seconds,
      steps: plan.epochs * plan.stepsPerEpoch,
      finalLoss,
      testAccuracy,
      readbacks,
      note,
    };
  } finally {
    whole?.forEach((t: Tf) => t.dispose());
  }
}

/**
 * tfjs' scores (LinReg: predictions) for the first `n` instances of the host inputs `x`
 * (denet's layout), with `weights` from `initialWeights` converted as in training: lets a
 * test check that both frameworks compute the same function.
 */
export async function tfjsForward(
  backend: TfjsBackend,
  row: RowSpec,
  weights: readonly HostWeight[],
  x: Float32Array,
  n: number,
): Promise<Float32Array> {
  const { tf, reason } = await loadTfjs(backend);
  if (!tf) throw new Error(reason);
  const per = row.name === "linreg" ? 13 : IMG;
  if (!Number.isInteger(n) || n < 1 || n * per > x.length) {
    throw new Error(`tfjsForward: n = ${n} instances of ${per} values do not fit in ${x.length}`);
  }
  const vars = tfjsWeights(row, weights).map((w) => tf.tensor(w.values, w.shape));
  try {
    const scores = tf.tidy(() =>
      predictor(tf, row, vars, false)(tf.tensor(x.subarray(0, n * per), xShape(row, n)))
    );
    const out = Float32Array.from(await scores.data());
    scores.dispose();
    return out;
  } finally {
    vars.forEach((v: Tf) => v.dispose());
  }
}

/** Test accuracy over the first `data.ntst` test instances (whole batches of `row.batch`). */
async function tfjsAccuracy(
  tf: Tf,
  row: RowSpec,
  predict: (x: Tf) => Tf,
  data: HostData,
): Promise<number> {
  const b = row.batch;
  const nb = Math.floor((data.ntst ?? 0) / b);
  let correct: Tf = tf.scalar(0, "int32");
  for (let k = 0; k < nb; k++) {
    const next = tf.tidy(() => {
      const x = tf.tensor(data.xtst!.subarray(k * b * IMG, (k + 1) * b * IMG), xShape(row, b));
      const y = tf.tensor(Int32Array.from(data.ytst!.subarray(k * b, (k + 1) * b)), [b], "int32");
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(predict(x), 1), y), "int32"));
      return tf.add(correct, hits);
    });
    correct.dispose();
    correct = next;
  }
  const n = (await correct.data())[0];
  correct.dispose();
  return nb === 0 ? NaN : n / (nb * b);
}
