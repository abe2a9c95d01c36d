/**
 * libtorch's prediction of a batch of patches, optionally averaged over the 8 symmetries of the
 * square (test-time augmentation); LibtorchPredictor (predictor.ts) runs it over a store.
 * @module
 */
import { dihedral, prepareBatch, type Normalization } from '../data/augment.js'
import { ttaViews, type Tta } from '../data/tta.js'
import type { PatchClassifier } from '../models/registry.js'
import type { RunConfig } from '../run/run-folder.js'
import { underAutocast, type Precision } from '../learn/precision.js'
import { scope, type Device, type Tensor } from '../torch/index.js'

export interface PredictOptions {
  size: number
  normalization: Normalization
  /** Average the probabilities over the 8 symmetries of the square (true) or some of them. */
  tta?: Tta
  /** Autocast precision (default fp32). */
  precision?: Precision
  /** The model's device (default the CPU): the patches are copied there before they are prepared. */
  device?: Device
}

/** How a run's model wants its input: size and normalisation (from its config.json). */
export function inputOptions(config: RunConfig): Pick<PredictOptions, 'size' | 'normalization'> {
  return { size: config.inputSize, normalization: config.normalization }
}

/**
 * Probabilities of the positive class for a batch of patches (N x H x W x 3 uint8), averaged
 * over the 8 symmetries with `tta`. Call inside noGrad.
 */
export function predictImages(
  model: PatchClassifier,
  images: Tensor,
  options: PredictOptions,
): Float32Array {
  const { tta = false, precision = 'fp32', device = 'cpu' } = options
  const views = ttaViews(tta)
  return scope(() => {
    // The views are made where the model is: one copy of the batch, not one per view.
    const onDevice = device === 'cpu' ? images : images.to(device)
    let sum: Tensor | null = null
    for (const k of views) {
      const x = prepareBatch(dihedral(onDevice, k), {
        size: options.size,
        normalization: options.normalization,
      })
      const logits = underAutocast({ precision, device }, () => model.forward(x))
      const p = logits.float().reshape(-1).sigmoid()
      sum = sum === null ? p : sum.add(p)
    }
    return (sum as Tensor).div(views.length).data() as Float32Array
  })
}
