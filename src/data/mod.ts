/**
 * Data: minibatching (Knet's `minibatch`), dataset files fetched once and verified, and
 * loaders for MNIST, Fashion-MNIST, Boston Housing and character-level text corpora.
 *
 * Dataset directories: the loader's `dir` option, else `$DENET_DATA/<dataset>`, else
 * `${XDG_CACHE_HOME:-~/.cache}/denet/<dataset>` (see {@link dataDir}).
 *
 * @module
 */

export { type Batch, Data, DataIterator, minibatch, type MinibatchOptions } from "./minibatch.ts";
export { ensureFile, type EnsureOptions, type FileSpec, forgetVerifiedFiles } from "./download.ts";
export { decodeIdx, gunzip, type IdxArray, type IdxKind, isGzip, readIdx } from "./idx.ts";
export { dataDir, type DirLike, toPath } from "./paths.ts";
export {
  FASHION_MNIST,
  FASHION_MNIST_CLASSES,
  fashionMnist,
  type IdxDatasetFiles,
  type IdxDatasetSpec,
  loadIdxDataset,
  loadIdxSplit,
  MNIST,
  mnist,
  type MnistData,
  type MnistOptions,
} from "./mnist.ts";
export {
  housing,
  HOUSING_COLUMNS,
  HOUSING_FILE,
  type HousingData,
  type HousingOptions,
  type NumericTable,
  parseNumericTable,
} from "./housing.ts";
export {
  charCorpus,
  type TextCorpus,
  textCorpus,
  type TextCorpusOptions,
  TINY_SHAKESPEARE,
} from "./text.ts";
export { bptt, BpttBatches, type BpttOptions, type BpttWindow, splitHeldOut } from "./bptt.ts";
