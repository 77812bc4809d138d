/**
 * Files: the safetensors format and model checkpoints (parameters and optimizer state).
 *
 * @module
 */

export {
  checkMetadata,
  type DecodedTensor,
  decodeSafetensors,
  DTYPE_BYTES,
  encodeSafetensors,
  MAX_HEADER_BYTES,
  readSafetensorsHeader,
  type SafetensorsDType,
  type SafetensorsFile,
  type SafetensorsHeader,
  type SafetensorsTensor,
  type TensorEntry,
} from "./safetensors.ts";
export {
  CHECKPOINT_FORMAT,
  type CheckpointInfo,
  type CheckpointOptimizerInfo,
  type CheckpointTensorInfo,
  loadCheckpoint,
  type LoadCheckpointOptions,
  namedMoments,
  readCheckpointInfo,
  saveCheckpoint,
  type SaveCheckpointOptions,
} from "./checkpoint.ts";
