/**
 * Predicting probabilities for stored patches, optionally averaged over
 * the 8 symmetries of the square (test-time augmentation).
 * @module
 */
import { dihedral, prepareBatch, type Normalization } from '../data/augment.js'
import type { PatchStore } from '../data/store.js'
import { ttaViews, type Tta } from '../data/tta.js'
import type { PatchClassifier } from '../models/registry.js'
import type { RunConfig } from '../run/run-folder.js'
import { autocast, noGrad, scope, tensor, type Tensor } from '../torch/index.js'

export interface PredictOptions {
  size: number
  normalization: Normalization
  batchSize?: number
  /** Average the probabilities over the 8 symmetries of the square (true) or some of them. */
  tta?: Tta
  mixedPrecision?: boolean
  onProgress?: (done: number, total: number) => void
}

/** How a run's model wants its input: size, normalisation, precision (from its config.json). */
export function inputOptions(
  config: RunConfig,
): Pick<PredictOptions, 'size' | 'normalization' | 'mixedPrecision'> {
  return {
    size: config.inputSize,
    normalization: config.normalization,
    mixedPrecision: config.recipe.mixedPrecision,
  }
}

/**
 * Probabilities of the positive class for a batch of patches (N x H x W x 3 uint8), averaged
 * over the 8 symmetries with `tta`. Call inside noGrad.
 */
export function predictImages(
  model: PatchClassifier,
  images: Tensor,
  options: Omit<PredictOptions, 'batchSize' | 'onProgress'>,
): Float32Array {
  const { tta = false, mixedPrecision = false } = options
  const views = ttaViews(tta)
  return scope(() => {
    let sum: Tensor | null = null
    for (const k of views) {
      const x = prepareBatch(dihedral(images, k), {
        size: options.size,
        normalization: options.normalization,
      })
      const logits = autocast(() => model.forward(x), { enabled: mixedPrecision })
      const p = logits.float().reshape(-1).sigmoid()
      sum = sum === null ? p : sum.add(p)
    }
    return (sum as Tensor).div(views.length).data() as Float32Array
  })
}

/** Probabilities of the positive class for the stored patches at `indices`. */
export function predictStore(
  model: PatchClassifier,
  store: PatchStore,
  indices: number[],
  options: PredictOptions,
): Float32Array {
  const { batchSize = 128 } = options
  const out = new Float32Array(indices.length)
  noGrad(() => {
    for (let start = 0; start < indices.length; start += batchSize) {
      const probabilities = scope(() => {
        const idx = tensor(BigInt64Array.from(indices.slice(start, start + batchSize), BigInt))
        return predictImages(model, store.gather(idx).images, options)
      })
      out.set(probabilities, start)
      options.onProgress?.(Math.min(start + batchSize, indices.length), indices.length)
    }
  })
  return out
}
