/**
 * `pcam bench predict`: batch prediction speed of a trained run on a store, with and without
 * test-time augmentation.
 * @module
 */
import { PatchStore } from '../data/store.js'
import { inputOptions, loadRun, predictStore } from '../eval/predict.js'

export interface PredictBenchResult {
  patches: number
  batchSize: number
  plainPatchesPerSec: number
  ttaPatchesPerSec: number
}

export function benchPredict(options: {
  run: string
  store: string
  patches: number
  batchSize: number
}): PredictBenchResult {
  const { model, config } = loadRun(options.run)
  const store = PatchStore.open(options.store)
  try {
    const indices = [...Array(Math.min(options.patches, store.count)).keys()]
    const rate = (tta: boolean) => {
      const settings = { ...inputOptions(config), batchSize: options.batchSize, tta }
      predictStore(model, store, indices.slice(0, options.batchSize), settings) // warm-up
      const started = performance.now()
      predictStore(model, store, indices, settings)
      return indices.length / ((performance.now() - started) / 1000)
    }
    return {
      patches: indices.length,
      batchSize: options.batchSize,
      plainPatchesPerSec: rate(false),
      ttaPatchesPerSec: rate(true),
    }
  } finally {
    model.dispose()
    store.dispose()
  }
}
