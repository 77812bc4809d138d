/**
 * MNIST and Fashion-MNIST: 28×28 grayscale images of 10 classes, from IDX files.
 *
 * Like Knet's `mnist()`, the loaders return `{ xtrn, ytrn, xtst, ytst }`, here as CPU f32
 * tensors in denet's row-major layout: images `[N, 1, 28, 28]` (Knet's 28×28×1×N) with
 * pixels scaled to [0, 1], labels `[N]` holding the 0-based classes 0..9 as floats (Knet
 * uses 1..10).
 *
 * Files are looked for in the dataset directory (see `dataDir`: `dir` option, then
 * `$DENET_DATA/mnist` or `$DENET_DATA/fashion-mnist`, then the user cache) and
 * downloaded when missing; every file's size and md5 are checked.
 *
 * @module
 */

import { Tensor } from "../tensor/tensor.ts";
import { ensureFile, type EnsureOptions, type FileSpec } from "./download.ts";
import { type IdxArray, readIdx } from "./idx.ts";
import { dataDir, type DirLike } from "./paths.ts";

/** The four files of an MNIST-like dataset. */
export interface IdxDatasetFiles {
  /** Training images (IDX 0x803, N×rows×cols). */
  trainImages: FileSpec;
  /** Training labels (IDX 0x801, N). */
  trainLabels: FileSpec;
  /** Test images. */
  testImages: FileSpec;
  /** Test labels. */
  testLabels: FileSpec;
}

/** An MNIST-like dataset: where its files are and what they hold. */
export interface IdxDatasetSpec {
  /** The dataset's folder name under `$DENET_DATA` or the cache, e.g. `"mnist"`. */
  name: string;
  /** Its four files. */
  files: IdxDatasetFiles;
  /** Number of classes: every label must be below it (10 for MNIST). */
  classes?: number;
  /** Image rows and columns every image file must have ([28, 28] for MNIST). */
  imageSize?: readonly [number, number];
}

/** Options of {@link mnist}, {@link fashionMnist} and {@link loadIdxDataset}. */
export interface MnistOptions extends EnsureOptions {
  /** The directory holding the four files (default: see `dataDir`). */
  dir?: DirLike;
  /**
   * Download from this base URL instead of the dataset's mirror (each file's URL is
   * `baseUrl + name`). The expected sizes and checksums stay those of the spec.
   */
  baseUrl?: string;
}

/** A dataset split into training and test tensors (CPU, f32). */
export interface MnistData {
  /** Training images `[N, 1, rows, cols]`, values in [0, 1]. */
  xtrn: Tensor;
  /** Training labels `[N]`, 0-based classes as floats. */
  ytrn: Tensor;
  /** Test images `[M, 1, rows, cols]`. */
  xtst: Tensor;
  /** Test labels `[M]`. */
  ytst: Tensor;
}

function files(
  base: string,
  sums: Record<keyof IdxDatasetFiles, [string, number, string]>,
): IdxDatasetFiles {
  const spec = ([name, bytes, md5]: [string, number, string]): FileSpec => ({
    name,
    url: base + name,
    bytes,
    md5,
  });
  return {
    trainImages: spec(sums.trainImages),
    trainLabels: spec(sums.trainLabels),
    testImages: spec(sums.testImages),
    testLabels: spec(sums.testLabels),
  };
}

/** MNIST (LeCun, Cortes, Burges), from the ossci-datasets mirror, with the official md5s. */
export const MNIST: IdxDatasetSpec = Object.freeze({
  name: "mnist",
  classes: 10,
  imageSize: [28, 28] as const,
  files: files("https://ossci-datasets.s3.amazonaws.com/mnist/", {
    trainImages: ["train-images-idx3-ubyte.gz", 9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"],
    trainLabels: ["train-labels-idx1-ubyte.gz", 28881, "d53e105ee54ea40749a09fcbcd1e9432"],
    testImages: ["t10k-images-idx3-ubyte.gz", 1648877, "9fb629c4189551a2d022fa330f9573f3"],
    testLabels: ["t10k-labels-idx1-ubyte.gz", 4542, "ec29112dd5afa0611ce80d1b7f02629c"],
  }),
});

/** Fashion-MNIST (Xiao, Rasul, Vollgraf; Zalando), from its S3 mirror, with its md5s. */
export const FASHION_MNIST: IdxDatasetSpec = Object.freeze({
  name: "fashion-mnist",
  classes: 10,
  imageSize: [28, 28] as const,
  files: files("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
    trainImages: ["train-images-idx3-ubyte.gz", 26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"],
    trainLabels: ["train-labels-idx1-ubyte.gz", 29515, "25c81989df183df01b3e8a0aad5dffbe"],
    testImages: ["t10k-images-idx3-ubyte.gz", 4422102, "bef4ecab320f06d8554ea6380940ec79"],
    testLabels: ["t10k-labels-idx1-ubyte.gz", 5148, "bb300cfdad3c16e7a12a480ee83cd310"],
  }),
});

/** Fashion-MNIST's class names, by label. */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

/** pixel byte → pixel / 255 */
const SCALE = Float32Array.from({ length: 256 }, (_, i) => i / 255);

function toImages(
  spec: IdxDatasetSpec,
  file: string,
  idx: IdxArray,
): Tensor {
  if (idx.dims.length !== 3) {
    throw new Error(
      `${spec.name}: ${file} holds dims [${idx.dims.join(",")}], expected [N, rows, cols]`,
    );
  }
  const [n, rows, cols] = idx.dims;
  if (spec.imageSize && (rows !== spec.imageSize[0] || cols !== spec.imageSize[1])) {
    throw new Error(
      `${spec.name}: ${file} holds ${rows}×${cols} images, expected ${spec.imageSize[0]}×${
        spec.imageSize[1]
      }`,
    );
  }
  const out = new Float32Array(idx.data.length);
  const src = idx.data;
  for (let i = 0; i < src.length; i++) out[i] = SCALE[src[i]];
  return new Tensor([n, 1, rows, cols], "f32", out);
}

function toLabels(spec: IdxDatasetSpec, file: string, idx: IdxArray, n: number): Tensor {
  if (idx.dims.length !== 1) {
    throw new Error(`${spec.name}: ${file} holds dims [${idx.dims.join(",")}], expected [N]`);
  }
  if (idx.dims[0] !== n) {
    throw new Error(
      `${spec.name}: ${file} holds ${idx.dims[0]} labels but the image file holds ${n} images`,
    );
  }
  const out = new Float32Array(n);
  const src = idx.data;
  const classes = spec.classes ?? 256;
  for (let i = 0; i < n; i++) {
    if (src[i] >= classes) {
      throw new Error(
        `${spec.name}: ${file}: label ${src[i]} at index ${i} is not a class 0..${classes - 1}`,
      );
    }
    out[i] = src[i];
  }
  return new Tensor([n], "f32", out);
}

/**
 * Loads an MNIST-like dataset described by `spec` (downloading missing files): the
 * engine behind {@link mnist} and {@link fashionMnist}, usable for other IDX datasets
 * of the same layout (EMNIST, KMNIST, ...).
 *
 * @param spec the dataset's folder name, files, classes and image size
 * @param opts `dir`, `baseUrl`, `download`, `quiet`, `fetch`
 * @returns `{ xtrn, ytrn, xtst, ytst }` as CPU f32 tensors
 */
export async function loadIdxDataset(
  spec: IdxDatasetSpec,
  opts: MnistOptions = {},
): Promise<MnistData> {
  const train = await loadIdxSplit(spec, "train", opts);
  const test = await loadIdxSplit(spec, "test", opts);
  return { xtrn: train.x, ytrn: train.y, xtst: test.x, ytst: test.y };
}

/**
 * One split of an MNIST-like dataset: its image and label files only (so evaluating a
 * model needs only the test files), downloaded when missing like {@link loadIdxDataset}.
 *
 * @param spec the dataset's folder name, files, classes and image size
 * @param split "train" or "test"
 * @param opts `dir`, `baseUrl`, `download`, `quiet`, `fetch`, `timeoutMs`
 * @returns `{ x: [N,1,H,W], y: [N] }` as CPU f32 tensors
 */
export async function loadIdxSplit(
  spec: IdxDatasetSpec,
  split: "train" | "test",
  opts: MnistOptions = {},
): Promise<{ x: Tensor; y: Tensor }> {
  if (split !== "train" && split !== "test") {
    throw new Error(`loadIdxSplit: split must be "train" or "test", got "${split}"`);
  }
  const dir = dataDir(spec.name, opts.dir);
  const keys = split === "train"
    ? (["trainImages", "trainLabels"] as const)
    : (["testImages", "testLabels"] as const);
  const paths: string[] = [];
  for (const k of keys) {
    let file = spec.files[k];
    if (opts.baseUrl !== undefined) {
      const base = opts.baseUrl.endsWith("/") ? opts.baseUrl : `${opts.baseUrl}/`;
      file = { ...file, url: base + file.name };
    }
    // One at a time: progress bars stay readable.
    paths.push(await ensureFile(dir, file, opts));
  }
  const [images, labels] = await Promise.all([
    readIdx(paths[0], "images"),
    readIdx(paths[1], "labels"),
  ]);
  const x = toImages(spec, paths[0], images);
  return { x, y: toLabels(spec, paths[1], labels, x.shape[0]) };
}

/**
 * The MNIST handwritten digits: 60 000 training and 10 000 test images.
 *
 * @param opts `dir` (default `$DENET_DATA/mnist` or `~/.cache/denet/mnist`), `baseUrl`,
 *   `download` (default true), `quiet`, `fetch`
 * @returns `{ xtrn: [60000,1,28,28], ytrn: [60000], xtst: [10000,1,28,28], ytst: [10000] }`,
 *   CPU f32, pixels in [0, 1], labels 0..9
 */
export function mnist(opts: MnistOptions = {}): Promise<MnistData> {
  return loadIdxDataset(MNIST, opts);
}

/**
 * Fashion-MNIST: 60 000 training and 10 000 test images of 10 kinds of clothing
 * ({@link FASHION_MNIST_CLASSES}).
 *
 * @param opts `dir` (default `$DENET_DATA/fashion-mnist` or `~/.cache/denet/fashion-mnist`),
 *   `baseUrl`, `download` (default true), `quiet`, `fetch`
 * @returns `{ xtrn, ytrn, xtst, ytst }` shaped like {@link mnist}'s
 */
export function fashionMnist(opts: MnistOptions = {}): Promise<MnistData> {
  return loadIdxDataset(FASHION_MNIST, opts);
}
