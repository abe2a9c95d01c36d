/**
 * What a Learner trains on: batches of inputs and labels, from a loader that makes each epoch's
 * batches (pcam's PatchLoader, or any object of the same shape) or from any iterable of batches
 * with a length (an array of batches, a user's dataset class).
 * @module
 */
import { ValidationError } from '../errors.js'
import type { Tensor } from '../torch/index.js'

/** One batch: inputs and float labels (class indices); other tensors may ride along. */
export interface LearnerBatch {
  /** The model's inputs, batch first (PatchLoader's: float N x 3 x size x size images). */
  x: Tensor
  /** One float label per input, the class index (0 or 1 for a binary model). */
  y: Tensor
}

/** A source of batches epoch by epoch (pcam's PatchLoader is one). */
export interface EpochLoader<B extends LearnerBatch = LearnerBatch> {
  /** Batches per epoch. */
  readonly length: number
  /** The batches of an epoch (its order may depend on the epoch), skipping the first `from`. */
  epoch(epoch: number, from?: number): Iterable<B>
  /**
   * true when every batch is made for its consumer, who disposes its tensors once done with it
   * (PatchLoader); false or absent when the batches stay the source's.
   */
  readonly batchesAreFresh?: boolean
  /** Class names, for default metrics. */
  readonly classes?: readonly string[]
}

/** Any iterable of batches that can be walked once per epoch and knows how many it holds. */
export type BatchIterable<B extends LearnerBatch = LearnerBatch> = Iterable<B> & {
  /** Batches in one pass (an epoch). */
  readonly length: number
}

function isEpochLoader(source: unknown): source is EpochLoader {
  return typeof (source as EpochLoader | null)?.epoch === 'function'
}

/**
 * An EpochLoader over either kind of source. An iterable is walked from its start every epoch,
 * in its own order; its batches stay the caller's (the Learner does not dispose them).
 */
export function epochLoaderOf<L extends EpochLoader>(
  source: L | BatchIterable,
  name: string,
): L | EpochLoader {
  if (isEpochLoader(source)) return source
  if (
    source === null ||
    typeof source !== 'object' ||
    typeof (source as Iterable<unknown>)[Symbol.iterator] !== 'function' ||
    !Number.isInteger(source.length) ||
    source.length < 1
  )
    throw new ValidationError(
      `The ${name} batches must be an EpochLoader (such as PatchLoader) or an iterable of ` +
        `{ x, y } batches with a length of at least 1 (an array of batches, for example)`,
    )
  return {
    length: source.length,
    *epoch(_epoch: number, from = 0) {
      let i = 0
      for (const batch of source) if (i++ >= from) yield batch
    },
  }
}

/** Releases a batch after use: disposes its tensors when its loader made it for the consumer. */
export function releaseBatch(loader: EpochLoader, batch: LearnerBatch): void {
  if (!loader.batchesAreFresh) return
  for (const value of Object.values(batch))
    if (typeof (value as Tensor | undefined)?.dispose === 'function') (value as Tensor).dispose()
}
