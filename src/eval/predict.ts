/**
 * Loading a trained run and predicting probabilities for stored patches, optionally averaged over
 * the 8 symmetries of the square (test-time augmentation).
 * @module
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { dihedral, prepareBatch, type Normalization } from '../data/augment.js'
import { sourceMpp, type PatchStore, type StoreMeta } from '../data/store.js'
import { DataError, ValidationError } from '../errors.js'
import { createModel, type ModelSpec, type PatchClassifier } from '../models/registry.js'
import { autocast, noGrad, scope, tensor, type Tensor } from '../torch/index.js'
import { readSafetensors } from '../weights/safetensors.js'
import type { EpochRecord } from '../learn/learner.js'
import type { RunThreshold } from '../learn/callbacks/save-best.js'

export interface RunConfig {
  model: ModelSpec
  classes: string[]
  /** Side of the training patches (the network sees them resized to inputSize). */
  patchSize?: number
  inputSize: number
  /** Micrometres per pixel of the training patches, when the store recorded it. */
  mpp?: number
  normalization: Normalization
  recipe: { mixedPrecision?: boolean } & Record<string, unknown>
  data?: { store: string; source: StoreMeta['source']; splitMethod: string }
  /** Chosen on the valid split at the best epoch (absent before the first epoch ends). */
  threshold?: RunThreshold
  /** The best epoch's validation figures. */
  validation?: EpochRecord
}

/**
 * The µm/px of the patches a run was trained on: its config's, else what its store's source
 * implies (PCam, Kaggle), else undefined (unknown).
 */
export function runMpp(config: RunConfig): number | undefined {
  return config.mpp ?? sourceMpp(config.data?.source.kind)
}

/** The decision threshold a run carries, 0.5 when it has none yet. */
export function runThreshold(config: RunConfig): number {
  return config.threshold?.value ?? 0.5
}

/** The best model of a run folder, in eval mode, with its config. */
export function loadRun(dir: string): { model: PatchClassifier; config: RunConfig } {
  for (const file of ['config.json', 'model.safetensors']) {
    if (!existsSync(join(dir, file))) {
      throw new DataError(
        `${join(dir, file)} not found: is ${dir} a run folder written by "pcam train"?`,
      )
    }
  }
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RunConfig
  if (!config.model) {
    throw new DataError(
      `${join(dir, 'config.json')} has no model spec (an earlier pcam wrote it); train the run again.`,
    )
  }
  const model = createModel(config.model)
  try {
    const { tensors } = readSafetensors(join(dir, 'model.safetensors'))
    try {
      model.loadStateDict(tensors)
    } finally {
      for (const t of tensors.values()) t.dispose()
    }
  } catch (error) {
    model.dispose()
    throw error
  }
  model.toChannelsLast().eval()
  return { model, config }
}

export interface PredictOptions {
  size: number
  normalization: Normalization
  batchSize?: number
  /** Average the probabilities over the 8 symmetries of the square (true) or some of them. */
  tta?: Tta
  mixedPrecision?: boolean
  onProgress?: (done: number, total: number) => void
}

/**
 * Test-time augmentation: none (false), the 8 symmetries of the square (true), or a chosen
 * subset of them by index (see dihedral(): 0-3 quarter turns, 4-7 the same after a flip).
 */
export type Tta = boolean | number[]

export function ttaViews(tta: Tta): number[] {
  if (tta === false) return [0]
  if (tta === true) return [0, 1, 2, 3, 4, 5, 6, 7]
  if (
    tta.length === 0 ||
    new Set(tta).size !== tta.length ||
    tta.some((k) => !Number.isInteger(k) || k < 0 || k > 7)
  )
    throw new ValidationError(
      `Expected distinct symmetries in 0..7 for test-time augmentation but received ${tta.join(',')}`,
    )
  return tta
}

/** Reads "--tta" and "--tta-views 0,2,4,6" into a Tta. */
export function ttaFrom(all: boolean, views: string | undefined): Tta {
  if (views === undefined) return all
  return ttaViews(views.split(',').map((v) => Number(v.trim())))
}

/** "8-way" for the full set, "k-way (views ...)" for a subset, "" for none. */
export function describeTta(tta: Tta): string {
  if (tta === false) return ''
  const views = ttaViews(tta)
  return views.length === 8 ? '8-way TTA' : `${views.length}-way TTA (views ${views.join(',')})`
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
