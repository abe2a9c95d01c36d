/**
 * Top losses, as fastai's plot_top_losses shows them: the patches the model got most confidently
 * wrong (highest cross-entropy), each beside its Grad-CAM overlay, with the true class, the
 * prediction, the loss and the probability.
 * @module
 */
import { CLASS_COLOURS, displayClassNames, gridPng, type GridTile } from '../data/grid.js'
import { PatchLoader } from '../data/loader.js'
import type { PatchStore } from '../data/store.js'
import { cat, scope, tensor } from '../torch/index.js'
import { explainPatches } from './explain.js'
import type { RunConfig } from '../run/run-folder.js'
import type { PatchClassifier } from '../models/registry.js'
import type { FitPicture } from '../learn/callbacks/tensorboard.js'
import { chooseThreshold, type ThresholdRule } from '../metrics/metrics.js'

export interface TopLoss {
  /** Position in the predictions given. */
  position: number
  loss: number
  probability: number
  label: number
}

/** Binary cross-entropy of each prediction, the k largest first. */
export function topLosses(probabilities: ArrayLike<number>, labels: ArrayLike<number>, k: number) {
  const items: TopLoss[] = Array.from(labels, (label, position) => {
    const p = Math.min(Math.max(probabilities[position] as number, 1e-7), 1 - 1e-7)
    return { position, label, probability: p, loss: -Math.log(label === 1 ? p : 1 - p) }
  })
  return items.sort((a, b) => b.loss - a.loss).slice(0, k)
}

/**
 * The top losses as a grid PNG: patch | Grad-CAM overlay, border in the true class's colour,
 * captioned "actual → predicted" and "loss, p" (p: probability of the positive class).
 */
export async function topLossesPicture(options: {
  /** An ensemble's models: their heatmaps averaged (explainPatches). */
  model: PatchClassifier | PatchClassifier[]
  config: RunConfig
  store: PatchStore
  /** Store index of each item's patch. */
  storeIndex: (item: TopLoss) => number
  items: TopLoss[]
  threshold: number
  layer?: string
  cols?: number
}): Promise<Buffer> {
  const { model, config, store, items } = options
  const size = store.meta.height
  const pixels = scope(() => {
    const { images } = store.gather(
      tensor(BigInt64Array.from(items.map(options.storeIndex), BigInt)),
    )
    // Each heatmap shows the evidence for the class the model predicted, as fastai's does.
    const signs = items.map((item) => (item.probability >= options.threshold ? 1 : -1))
    const overlay = explainPatches(model, config, images, { layer: options.layer, signs })
    return cat([images, overlay], 2).contiguous()
  })
  const data = pixels.data() as Uint8Array
  pixels.dispose()
  const names = displayClassNames(config.classes)
  const tiles: GridTile[] = items.map((item, n) => {
    const predicted = item.probability >= options.threshold ? 1 : 0
    return {
      pixels: data.subarray(n * size * 2 * size * 3, (n + 1) * size * 2 * size * 3),
      width: 2 * size,
      height: size,
      caption: [
        `${names[item.label]} \u2192 ${names[predicted]}`,
        `loss ${item.loss.toFixed(2)}, p ${item.probability.toFixed(3)}`,
      ],
      border: CLASS_COLOURS[item.label] as string,
    }
  })
  // Small patches are drawn larger, so that the captions fit under them.
  return gridPng(tiles, { cols: options.cols ?? 4, tile: Math.max(2 * size, 96) })
}

/** What the top losses of a fit are drawn with: the run's config and its threshold rule. */
export interface FitTopLossesOptions {
  config: RunConfig
  /** The decision threshold's rule, applied to the validation pass drawn (default 0.5). */
  threshold?: ThresholdRule
  /** Patches drawn (default 16). */
  count?: number
}

/**
 * The top losses of a fit's last validation pass with their Grad-CAM overlays (PNG), for a
 * TensorBoard picture; null for a model with more than one output (the losses are binary).
 */
export function fitTopLosses(options: FitTopLossesOptions): FitPicture {
  return async (learn) => {
    const valid = learn.valid
    const loader = learn.validLoader
    if (valid?.classes !== 1 || !(loader instanceof PatchLoader)) return null
    const storeIndices = loader.storeIndices()
    const rule = options.threshold ?? { kind: 'fixed', value: 0.5 }
    // Grad-CAM of the model as validated: running batch-norm statistics, no dropout.
    learn.model.eval()
    return topLossesPicture({
      model: learn.model as PatchClassifier,
      config: options.config,
      store: loader.store,
      items: topLosses(valid.probabilities, valid.labels, options.count ?? 16),
      storeIndex: (item) => storeIndices[item.position] as number,
      threshold: chooseThreshold(valid.probabilities, valid.labels, rule),
    })
  }
}
