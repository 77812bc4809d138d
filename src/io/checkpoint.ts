/**
 * Checkpoints: a model's parameters and their optimizer state in one safetensors file
 * (see ./safetensors.ts), written atomically and loaded with full validation.
 *
 * Layout of a denet checkpoint:
 *
 * - one tensor per Param, named by {@link namedParams} (`layers.0.w`), in that order;
 * - when optimizer state is saved, each state tensor of `p.opt` as
 *   `<param name>/opt/<field>` (e.g. `layers.0.w/opt/fstm`);
 * - the running statistics of every {@link BNMoments} reachable from the model (the
 *   `moments` of a BatchNorm layer), named by {@link namedMoments}: its `mean` and `var`
 *   as `<path>.mean` and `<path>.var` (e.g. `layers.1.moments.mean`), each only when it
 *   is not null (before the first training step both are null);
 * - `__metadata__`: `denet.format` = `"denet-checkpoint-1"`, `denet.params` = JSON list of
 *   the param names in order, `denet.moments` = JSON list of the BNMoments paths (only
 *   when the model has BNMoments; a checkpoint without it restores no running
 *   statistics), `denet.optimizer` = `"1"` or `"0"` (whether optimizer state
 *   was saved), `denet.opt.<param name>` = JSON `{name, config}` of that param's
 *   optimizer (non-finite numbers are written as the strings "Infinity", "-Infinity",
 *   "NaN"), and the user's metadata keys as given (keys starting with `denet.` are
 *   reserved).
 *
 * A plain safetensors file without `denet.format` (e.g. written by another framework)
 * loads too: every tensor in it is taken as a parameter, and there is no optimizer state
 * and there are no running statistics.
 *
 * dtypes: F32 loads into f32 params (CPU or GPU), F64 into f64 CPU params, and F32 into
 * f64 CPU params (exact widening: a GPU-trained checkpoint can be loaded into a CPU f64
 * model, e.g. for gradient checks). F64 into an f32 param is refused (it would round);
 * convert explicitly instead.
 *
 * @module
 */

import { namedParams, walkModel } from "../autograd/diff.ts";
import { Param } from "../autograd/param.ts";
import { isRecording } from "../autograd/tape.ts";
import type { Optimizer, OptimizerConfig } from "../optim/optimizer.ts";
import { checkStateValues, optimizerFromConfig } from "../optim/optimizers.ts";
import { BNMoments } from "../ops/batchnorm.ts";
import { keep } from "../tensor/scope.ts";
import { type HostArray, readAll, Tensor } from "../tensor/tensor.ts";
import { backendOf } from "../backend.ts";
import {
  checkMetadata,
  type DecodedTensor,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensorsHeader,
  type SafetensorsDType,
  type SafetensorsTensor,
} from "./safetensors.ts";
import { writeAtomic } from "./files.ts";

/** The value of the `denet.format` metadata key written by this version. */
export const CHECKPOINT_FORMAT = "denet-checkpoint-1";

/** Separator between a param name and its optimizer state field: `w/opt/fstm`. */
const OPT_INFIX = "/opt/";
/** How many names an error message lists per category. */
const LIST_MAX = 5;
/** The running statistics of a BNMoments, in file order. */
const MOMENT_FIELDS = ["mean", "var"] as const;
type MomentField = (typeof MOMENT_FIELDS)[number];

/** Options of {@link saveCheckpoint}. */
export interface SaveCheckpointOptions {
  /** Save each Param's optimizer state (`p.opt`) too. Default true. */
  optimizer?: boolean;
  /** User metadata, string to string (keys starting with `denet.` are reserved). */
  metadata?: Record<string, string>;
  /**
   * Refuse to save when a parameter holds NaN or ±Inf (checked on the values read for
   * the file: no extra host sync), so a diverged model never replaces a good file.
   * Default false.
   */
  requireFinite?: boolean;
}

/** Options of {@link loadCheckpoint}. */
export interface LoadCheckpointOptions {
  /** Restore optimizer state into each Param's `opt`. Default true. */
  optimizer?: boolean;
  /**
   * Refuse parameters (and BNMoments) in the checkpoint that the model does not have.
   * Default true. (Every model parameter must be in the checkpoint either way, and every
   * BNMoments of the model when the checkpoint has running statistics.)
   */
  strict?: boolean;
  /**
   * Builds an optimizer from its saved name and config. Default: `optimizerFromConfig`
   * of src/optim/optimizers.ts.
   */
  makeOptimizer?: (name: string, config: OptimizerConfig) => Optimizer;
}

/** Name, dtype and shape of a tensor in a checkpoint. */
export interface CheckpointTensorInfo {
  /** Tensor name. */
  name: string;
  /** Element type. */
  dtype: SafetensorsDType;
  /** Dimensions, row-major. */
  shape: number[];
}

/** The saved optimizer of one parameter. */
export interface CheckpointOptimizerInfo {
  /** The optimizer's name ("SGD", "Adam", ...). */
  name: string;
  /** Its hyperparameters and scalar state. */
  config: OptimizerConfig;
  /** Its state tensors. */
  state: CheckpointTensorInfo[];
}

/** What a checkpoint holds, read from its header only ({@link readCheckpointInfo}). */
export interface CheckpointInfo {
  /** The file. */
  path: string;
  /** `denet.format`, or null for a plain safetensors file. */
  format: string | null;
  /** The user metadata (without the reserved `denet.*` keys). */
  metadata: Record<string, string>;
  /** The parameters, in saved order. */
  params: CheckpointTensorInfo[];
  /** Saved optimizers by parameter name. */
  optimizers: Record<string, CheckpointOptimizerInfo>;
  /** Whether the checkpoint was saved with optimizer state. */
  hasOptimizerState: boolean;
  /**
   * The saved running statistics of BatchNorm moments (`<path>.mean`, `<path>.var`), in
   * saved order; empty when there are none.
   */
  moments: CheckpointTensorInfo[];
}

/** A checkpoint's header interpreted: names, shapes, optimizer entries. */
interface Layout {
  format: string | null;
  metadata: Record<string, string>;
  params: string[];
  optimizers: Map<string, { name: string; config: OptimizerConfig; fields: string[] }>;
  hasOptimizerState: boolean;
  /** The BNMoments paths of `denet.moments`, or null when the key is absent. */
  moments: string[] | null;
}

/** A BNMoments of a model, with what its owner tells about it. */
interface MomentsEntry {
  /** Its path (see {@link namedMoments}). */
  name: string;
  moments: BNMoments;
  /** The channel count from a `params` Param beside it (2C elements), or null. */
  channels: number | null;
  /** A Param beside it (its `params`), or null. */
  sibling: Param | null;
}

/** The tensor name of a running statistic: `<path>.mean` / `<path>.var`. */
function momentName(path: string, field: MomentField): string {
  return path === "" ? field : `${path}.${field}`;
}

/**
 * Every distinct {@link BNMoments} reachable from `model` (e.g. the `moments` of each
 * BatchNorm layer), with the path that first reached it, named and ordered as
 * {@link namedParams} would name and order the object (`layers.1.moments`). Checkpoints
 * store its running statistics as `<path>.mean` and `<path>.var`.
 */
export function namedMoments(model: unknown): [name: string, moments: BNMoments][] {
  return momentsOf(model).map((e) => [e.name, e.moments]);
}

function momentsOf(model: unknown): MomentsEntry[] {
  const found: MomentsEntry[] = [];
  walkModel(model, (v, path, parent) => {
    if (!(v instanceof BNMoments)) return false;
    let sibling: Param | null = null;
    if (parent !== null && !Array.isArray(parent) && !(parent instanceof Map)) {
      const p = (parent as { params?: unknown }).params;
      if (p instanceof Param) sibling = p;
    }
    const channels = sibling !== null && sibling.size > 0 && sibling.size % 2 === 0
      ? sibling.size / 2
      : null;
    found.push({ name: path, moments: v, channels, sibling });
    return true;
  });
  return found;
}

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

function isOptimizer(v: unknown): v is Optimizer {
  const o = v as Optimizer;
  return typeof v === "object" && v !== null && typeof o.name === "string" &&
    typeof o.config === "function" && typeof o.stateTensors === "function" &&
    typeof o.loadState === "function";
}

/** JSON of an optimizer entry, with non-finite numbers as strings. */
function encodeOptimizer(name: string, config: OptimizerConfig): string {
  return JSON.stringify(
    { name, config },
    (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v),
  );
}

/** Sets an own key (also "__proto__", which plain assignment would not). */
function setKey<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Saves `model`'s parameters (every Param reachable from it, named by
 * {@link namedParams}), the running statistics of its BNMoments (named by
 * {@link namedMoments}) and, unless `optimizer: false`, the Params' optimizer state to
 * `path` in the safetensors format (see the module doc for the layout).
 *
 * All tensors are read from the device with one host sync. The file is written
 * atomically and durably ({@link writeAtomic} of ./files.ts): to a uniquely named
 * temporary file in the same directory, fsync'd, then renamed over `path`; on any
 * failure the temporary file is removed and an existing `path` is left untouched, and
 * temporary files of `path` left by a killed writer are removed first. Throws for a model without Params, a non-string metadata value, a
 * reserved metadata key, a `p.opt` that is not an Optimizer, a disposed tensor, or a
 * name shared by two tensors.
 */
export async function saveCheckpoint(
  path: string,
  model: unknown,
  opts: SaveCheckpointOptions = {},
): Promise<void> {
  const op = `saveCheckpoint ${path}`;
  const withOpt = opts.optimizer ?? true;
  const user = checkMetadata(op, opts.metadata ?? {});
  for (const k of Object.keys(user)) {
    if (k.startsWith("denet.")) {
      throw new Error(`${op}: metadata key "${k}" is reserved (keys starting with "denet.")`);
    }
  }
  const named = namedParams(model);
  if (named.length === 0) throw new Error(`${op}: the model has no Params`);
  const names = new Set(named.map(([n]) => n));
  const meta: Record<string, string> = {
    "denet.format": CHECKPOINT_FORMAT,
    "denet.params": JSON.stringify(named.map(([n]) => n)),
    "denet.optimizer": withOpt ? "1" : "0",
  };
  const entries: { name: string; t: Tensor }[] = [];
  const momentEntries: { name: string; t: Tensor }[] = [];
  const optEntries: { name: string; t: Tensor }[] = [];
  const moments = momentsOf(model);
  if (moments.length > 0) {
    meta["denet.moments"] = JSON.stringify(moments.map((e) => e.name));
    for (const e of moments) {
      for (const field of MOMENT_FIELDS) {
        const t = e.moments[field];
        if (t === null) continue;
        const tname = momentName(e.name, field);
        if (!(t instanceof Tensor)) {
          throw new Error(`${op}: running statistic "${tname}" is not a Tensor or null`);
        }
        if (t.disposed) throw new Error(`${op}: running statistic "${tname}" was disposed`);
        if (names.has(tname) || tname === "__metadata__") {
          throw new Error(
            `${op}: running statistic "${tname}" has the same name as a parameter; rename the parameter`,
          );
        }
        momentEntries.push({ name: tname, t });
      }
    }
  }
  const momentNames = new Set(momentEntries.map((e) => e.name));
  for (const [name, p] of named) {
    if (name === "__metadata__") {
      throw new Error(`${op}: a parameter's name "__metadata__" is reserved by safetensors`);
    }
    if (p.disposed) throw new Error(`${op}: parameter "${name}" ${p} was disposed`);
    entries.push({ name, t: p });
    if (!withOpt || p.opt === undefined || p.opt === null) continue;
    if (!isOptimizer(p.opt)) {
      throw new Error(`${op}: parameter "${name}" has an opt field that is not an Optimizer`);
    }
    const config = p.opt.config();
    for (const [k, v] of Object.entries(config)) {
      if (typeof v !== "number") {
        throw new Error(
          `${op}: parameter "${name}": optimizer ${p.opt.name} config "${k}" is not a number`,
        );
      }
    }
    meta[`denet.opt.${name}`] = encodeOptimizer(p.opt.name, config);
    for (const [field, t] of Object.entries(p.opt.stateTensors())) {
      const tname = `${name}${OPT_INFIX}${field}`;
      if (names.has(tname) || momentNames.has(tname)) {
        throw new Error(
          `${op}: optimizer state "${tname}" has the same name as a parameter or a running ` +
            `statistic; rename the parameter`,
        );
      }
      if (t.disposed) throw new Error(`${op}: optimizer state "${tname}" was disposed`);
      optEntries.push({ name: tname, t });
    }
  }
  const all = [...entries, ...momentEntries, ...optEntries];
  const values = await readAll(all.map((e) => e.t));
  if (opts.requireFinite) {
    entries.forEach((e, i) => {
      const bad = values[i].findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        throw new Error(
          `${op}: parameter "${e.name}" holds ${values[i][bad]} (element ${bad}); not saved ` +
            "(requireFinite)",
        );
      }
    });
  }
  const tensors: SafetensorsTensor[] = all.map((e, i) => ({
    name: e.name,
    dtype: e.t.dtype === "f64" ? "F64" : "F32",
    shape: e.t.shape,
    data: values[i],
  }));
  const bytes = encodeSafetensors(tensors, { ...user, ...meta });
  await writeAtomic(path, bytes, op);
}

/** Interprets a checkpoint's metadata and tensor names; throws for inconsistencies. */
function layoutOf(
  metadata: Record<string, string>,
  tensors: ReadonlyMap<string, { shape: number[] }>,
  what: string,
): Layout {
  const where = `checkpoint ${what}`;
  const user: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (!k.startsWith("denet.")) setKey(user, k, v);
  const format = metadata["denet.format"] ?? null;
  if (format === null) {
    return {
      format,
      metadata: user,
      params: [...tensors.keys()],
      optimizers: new Map(),
      hasOptimizerState: false,
      moments: null,
    };
  }
  if (format !== CHECKPOINT_FORMAT) {
    throw new Error(
      `${where}: unknown format "${format}" (this version reads "${CHECKPOINT_FORMAT}")`,
    );
  }
  let params: unknown;
  try {
    params = JSON.parse(metadata["denet.params"] ?? "");
  } catch {
    throw new Error(`${where}: metadata "denet.params" is missing or not valid JSON`);
  }
  if (!Array.isArray(params) || !params.every((n) => typeof n === "string")) {
    throw new Error(`${where}: metadata "denet.params" is not a list of names`);
  }
  const paramSet = new Set<string>(params);
  if (paramSet.size !== params.length) {
    throw new Error(`${where}: metadata "denet.params" lists a name twice`);
  }
  for (const n of params) {
    if (!tensors.has(n)) throw new Error(`${where}: parameter "${n}" has no tensor`);
  }
  let moments: string[] | null = null;
  const momentTensors = new Set<string>();
  if (metadata["denet.moments"] !== undefined) {
    let list: unknown;
    try {
      list = JSON.parse(metadata["denet.moments"]);
    } catch {
      throw new Error(`${where}: metadata "denet.moments" is not valid JSON`);
    }
    if (!Array.isArray(list) || !list.every((n) => typeof n === "string")) {
      throw new Error(`${where}: metadata "denet.moments" is not a list of names`);
    }
    if (new Set(list).size !== list.length) {
      throw new Error(`${where}: metadata "denet.moments" lists a name twice`);
    }
    moments = list;
    for (const path of list) {
      for (const field of MOMENT_FIELDS) {
        const tname = momentName(path, field);
        if (!tensors.has(tname)) continue;
        if (paramSet.has(tname)) {
          throw new Error(
            `${where}: tensor "${tname}" is both a parameter and the running ${field} of "${path}"`,
          );
        }
        momentTensors.add(tname);
      }
    }
  }
  const hasOptimizerState = metadata["denet.optimizer"] === "1";
  if (!["0", "1"].includes(metadata["denet.optimizer"] ?? "")) {
    throw new Error(`${where}: metadata "denet.optimizer" must be "0" or "1"`);
  }
  const optimizers = new Map<
    string,
    { name: string; config: OptimizerConfig; fields: string[] }
  >();
  for (const [k, v] of Object.entries(metadata)) {
    if (
      !k.startsWith("denet.") ||
      ["denet.format", "denet.params", "denet.optimizer", "denet.moments"].includes(k)
    ) {
      continue;
    }
    if (!k.startsWith("denet.opt.")) throw new Error(`${where}: unknown metadata key "${k}"`);
    const pname = k.slice("denet.opt.".length);
    if (!paramSet.has(pname)) {
      throw new Error(`${where}: optimizer entry "${k}" for a parameter not in denet.params`);
    }
    optimizers.set(pname, { ...decodeOptimizer(v, `${where}: "${k}"`), fields: [] });
  }
  for (const name of tensors.keys()) {
    if (paramSet.has(name) || momentTensors.has(name)) continue;
    const cut = name.lastIndexOf(OPT_INFIX);
    const owner = cut < 0 ? undefined : optimizers.get(name.slice(0, cut));
    if (owner === undefined) {
      throw new Error(
        `${where}: tensor "${name}" is neither a parameter nor the optimizer state of one ` +
          `nor a running statistic`,
      );
    }
    owner.fields.push(name.slice(cut + OPT_INFIX.length));
  }
  return { format, metadata: user, params, optimizers, hasOptimizerState, moments };
}

function decodeOptimizer(text: string, where: string): { name: string; config: OptimizerConfig } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${where} is not valid JSON`);
  }
  const o = v as { name?: unknown; config?: unknown };
  if (
    typeof v !== "object" || v === null || typeof o.name !== "string" ||
    typeof o.config !== "object" || o.config === null || Array.isArray(o.config)
  ) {
    throw new Error(`${where} must be {"name": string, "config": {...}}`);
  }
  const config: OptimizerConfig = {};
  for (const [k, x] of Object.entries(o.config)) {
    if (typeof x === "number") setKey(config, k, x);
    else if (x === "Infinity" || x === "-Infinity" || x === "NaN") setKey(config, k, Number(x));
    else throw new Error(`${where}: config "${k}" is not a number`);
  }
  return { name: o.name, config };
}

/** Whether a saved dtype can be loaded into a tensor (see the module doc). */
function dtypeFits(saved: SafetensorsDType, target: Tensor): boolean {
  return saved === "F32" || target.dtype === "f64";
}

function listSome(items: string[]): string {
  const shown = items.slice(0, LIST_MAX).join("; ");
  return items.length > LIST_MAX ? `${shown}; ... (${items.length} in all)` : shown;
}

/** A host array of `like`'s dtype holding `data` (converted when F32 goes into f64). */
function hostFor(like: Tensor, data: HostArray): HostArray {
  if (like.dtype === "f64" && !(data instanceof Float64Array)) return Float64Array.from(data);
  return data;
}

/** A new tensor on `like`'s device and dtype holding `t`'s values. */
function tensorLike(like: Tensor, t: DecodedTensor): Tensor {
  return backendOf(like.device).upload(t.shape, hostFor(like, t.data));
}

/** How one running statistic of the model is restored. */
interface MomentPlan {
  moments: BNMoments;
  field: MomentField;
  /** The saved values, or null when the saved statistic was null. */
  saved: DecodedTensor | null;
  /** Device and dtype for a new tensor when the model's statistic is null. */
  like: Tensor;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Copies `t`'s values into `dst` in place (equal sizes, a dtype that fits). */
function copyIn(t: DecodedTensor, dst: Tensor): void {
  if (dst.size > 0) backendOf(dst.device).write(dst, 0, t.data);
}

/**
 * Loads a checkpoint written by {@link saveCheckpoint} (or a plain safetensors file)
 * into `model`'s existing Params, in place: a Param keeps its identity and storage
 * (aliases and views stay valid), and the running statistics of the model's BNMoments
 * (see {@link namedMoments}). Returns the user metadata.
 *
 * Everything is validated before anything changes: the file's structure, every model
 * parameter present with an equal shape and a compatible dtype (see the module doc),
 * with `strict` no parameters the model lacks, and each optimizer's name, config and
 * state tensors (rebuilt with `makeOptimizer` and `loadState`). When the checkpoint
 * lists running statistics (`denet.moments`), every BNMoments of the model must be
 * listed (with `strict`, no others), and each saved `mean`/`var` must have the element
 * count of the model's tensor, or, when that is still null, C elements for C taken from
 * the `params` Param (2C elements) beside the BNMoments, as in the BatchNorm layer
 * (without one, any size with `mean` and `var` equal in size), and a compatible dtype.
 * A mismatch throws one Error naming the file and listing the missing, unexpected and
 * mismatched names and shapes. Then values are copied in; running statistics go into
 * the model's existing tensors in place, or into new tensors (exempt from `tidy`, on
 * the device and dtype of the `params` beside them, else of the model's first Param)
 * where the model's are null, and a statistic that was null when saved becomes null
 * again (the model's tensor is disposed; the next batchnorm call re-creates it with
 * `meaninit`/`varinit`). A checkpoint without `denet.moments` leaves running statistics
 * untouched. With `optimizer` (default true), each Param's `opt` is replaced by its
 * restored optimizer (the old one is disposed); when the checkpoint was saved with
 * optimizer state but a Param had none, its `opt` becomes undefined. A checkpoint saved
 * without optimizer state leaves `opt` untouched.
 */
export async function loadCheckpoint(
  path: string,
  model: unknown,
  opts: LoadCheckpointOptions = {},
): Promise<Record<string, string>> {
  const op = `loadCheckpoint ${path}`;
  const withOpt = opts.optimizer ?? true;
  const strict = opts.strict ?? true;
  const make = opts.makeOptimizer ?? optimizerFromConfig;
  if (isRecording()) {
    throw new Error(`${op}: cannot load a checkpoint inside diff (it updates Params in place)`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${op}: cannot read the file: ${(e as Error).message}`);
  }
  const file = decodeSafetensors(bytes, path);
  const layout = layoutOf(file.metadata, file.tensors, path);
  const named = namedParams(model);
  if (named.length === 0) throw new Error(`${op}: the model has no Params`);

  // 1. Parameters: names, shapes, dtypes.
  const saved = new Set(layout.params);
  const modelNames = new Set(named.map(([n]) => n));
  const missing: string[] = [];
  const mismatched: string[] = [];
  for (const [name, p] of named) {
    if (p.disposed) throw new Error(`${op}: parameter "${name}" ${p} was disposed`);
    const t = saved.has(name) ? file.tensors.get(name) : undefined;
    if (t === undefined) {
      missing.push(`${name} ${fmtShape(p.shape)}`);
    } else if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      mismatched.push(`${name}: model ${fmtShape(p.shape)}, checkpoint ${fmtShape(t.shape)}`);
    } else if (!dtypeFits(t.dtype, p)) {
      mismatched.push(
        `${name}: checkpoint ${t.dtype} does not load into a ${p.dtype} ${p.device} param`,
      );
    }
  }
  const unexpected = strict
    ? layout.params.filter((n) => !modelNames.has(n)).map((n) =>
      `${n} ${fmtShape(file.tensors.get(n)!.shape)}`
    )
    : [];

  // 1b. Running statistics (only when the checkpoint lists them): the plan of step 3.
  const plans: MomentPlan[] = [];
  if (layout.moments !== null) {
    const modelMoments = momentsOf(model);
    const savedPaths = new Set(layout.moments);
    for (const e of modelMoments) {
      for (const field of MOMENT_FIELDS) {
        const cur = e.moments[field];
        if (cur !== null && (!(cur instanceof Tensor) || cur.disposed)) {
          throw new Error(
            `${op}: running statistic "${momentName(e.name, field)}" is disposed or not a Tensor`,
          );
        }
      }
      if (!savedPaths.has(e.name)) {
        missing.push(`${e.name} (BNMoments)`);
        continue;
      }
      const like = e.sibling ?? named[0][1];
      const saved = MOMENT_FIELDS.map((f) => file.tensors.get(momentName(e.name, f)) ?? null);
      if (
        e.channels === null && saved[0] !== null && saved[1] !== null &&
        sizeOf(saved[0].shape) !== sizeOf(saved[1].shape)
      ) {
        mismatched.push(
          `${e.name}: checkpoint mean ${fmtShape(saved[0].shape)} and var ` +
            `${fmtShape(saved[1].shape)} differ in size`,
        );
      }
      MOMENT_FIELDS.forEach((field, i) => {
        const t = saved[i];
        const cur = e.moments[field];
        plans.push({ moments: e.moments, field, saved: t, like });
        if (t === null) return;
        const tname = momentName(e.name, field);
        const want = cur !== null ? cur.size : e.channels;
        if (want !== null && sizeOf(t.shape) !== want) {
          const model = cur !== null ? fmtShape(cur.shape) : `C = ${want} elements`;
          mismatched.push(`${tname}: model ${model}, checkpoint ${fmtShape(t.shape)}`);
        } else if (!dtypeFits(t.dtype, cur ?? like)) {
          const into = cur !== null
            ? `a ${cur.dtype} ${cur.device} running statistic`
            : `a model whose params are ${like.dtype} ${like.device}`;
          mismatched.push(`${tname}: checkpoint ${t.dtype} does not load into ${into}`);
        }
      });
    }
    if (strict) {
      const modelPaths = new Set(modelMoments.map((e) => e.name));
      for (const n of layout.moments) if (!modelPaths.has(n)) unexpected.push(`${n} (BNMoments)`);
    }
  }
  if (missing.length + mismatched.length + unexpected.length > 0) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing ${missing.length}: ${listSome(missing)}`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.length}: ${listSome(unexpected)}`);
    if (mismatched.length) parts.push(`mismatched ${mismatched.length}: ${listSome(mismatched)}`);
    throw new Error(`${op}: the checkpoint does not match the model: ${parts.join(" | ")}`);
  }

  // 2. Optimizers and new running statistics: made on the side (nothing attached yet).
  const restored = new Map<Param, Optimizer>();
  const made = new Map<MomentPlan, Tensor>();
  if (withOpt) {
    try {
      for (const [name, p] of named) {
        const entry = layout.optimizers.get(name);
        if (entry === undefined) continue;
        let opt: Optimizer;
        try {
          opt = make(entry.name, entry.config);
        } catch (e) {
          throw new Error(`parameter "${name}": ${(e as Error).message}`);
        }
        restored.set(p, opt);
        const state: Record<string, Tensor> = {};
        try {
          for (const field of entry.fields) {
            const t = file.tensors.get(`${name}${OPT_INFIX}${field}`)!;
            if (!dtypeFits(t.dtype, p)) {
              throw new Error(
                `optimizer state "${field}" is ${t.dtype}, which does not load into a ${p.dtype} ${p.device} param`,
              );
            }
            checkStateValues(entry.name, field, t.data);
            state[field] = tensorLike(p, t);
          }
          opt.loadState(entry.config, state, p);
        } catch (e) {
          throw new Error(
            `parameter "${name}": optimizer ${entry.name}: ${(e as Error).message}`,
          );
        } finally {
          for (const t of Object.values(state)) t.dispose();
        }
      }
    } catch (e) {
      for (const o of restored.values()) o.dispose();
      throw new Error(`${op}: ${(e as Error).message}`);
    }
  }
  try {
    for (const plan of plans) {
      if (plan.saved !== null && plan.moments[plan.field] === null) {
        made.set(plan, keep(tensorLike(plan.like, plan.saved)));
      }
    }
  } catch (e) {
    for (const t of made.values()) t.dispose();
    for (const o of restored.values()) o.dispose();
    throw new Error(`${op}: cannot create the running statistics: ${(e as Error).message}`);
  }

  // 3. Apply: values in place, then optimizers.
  for (const [name, p] of named) copyIn(file.tensors.get(name)!, p);
  for (const plan of plans) {
    const cur = plan.moments[plan.field];
    if (plan.saved === null) {
      cur?.dispose();
      plan.moments[plan.field] = null;
    } else if (cur !== null) {
      copyIn(plan.saved, cur);
    } else {
      plan.moments[plan.field] = made.get(plan)!;
    }
  }
  if (withOpt && layout.hasOptimizerState) {
    for (const [, p] of named) {
      const next = restored.get(p);
      const old = p.opt;
      if (old !== next && isOptimizer(old)) old.dispose();
      p.opt = next;
    }
  }
  return layout.metadata;
}

/**
 * What a checkpoint holds, from its header alone (the data section is not read, only
 * its size checked): the user metadata, the parameters' names, dtypes and shapes, the
 * saved optimizers and the saved running statistics. No model needed (e.g. for `cli.ts eval`).
 */
export async function readCheckpointInfo(path: string): Promise<CheckpointInfo> {
  const header = await readSafetensorsHeader(path);
  const layout = layoutOf(header.metadata, header.tensors, path);
  const info = (name: string): CheckpointTensorInfo => {
    const e = header.tensors.get(name)!;
    return { name, dtype: e.dtype, shape: [...e.shape] };
  };
  const optimizers: Record<string, CheckpointOptimizerInfo> = {};
  for (const [pname, o] of layout.optimizers) {
    setKey(optimizers, pname, {
      name: o.name,
      config: o.config,
      state: o.fields.map((f) => info(`${pname}${OPT_INFIX}${f}`)),
    });
  }
  return {
    path,
    format: layout.format,
    metadata: layout.metadata,
    params: layout.params.map(info),
    optimizers,
    hasOptimizerState: layout.hasOptimizerState,
    moments: (layout.moments ?? []).flatMap((path) =>
      MOMENT_FIELDS.map((f) => momentName(path, f)).filter((n) => header.tensors.has(n)).map(info)
    ),
  };
}
