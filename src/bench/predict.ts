/**
 * `pcam bench predict`: batch prediction speed of a trained run on a store, with and without
 * test-time augmentation, on each engine (libtorch and ONNX Runtime) side by side.
 * @module
 */
import { PatchStore } from '../data/store.js'
import { openPredictor, predictStoreWith, type Engine } from '../eval/predictor.js'

export interface PredictBenchResult {
  patches: number
  batchSize: number
  /** The default engine's figures (libtorch before ONNX Runtime existed here). */
  plainPatchesPerSec: number
  ttaPatchesPerSec: number
  libtorch_patches_s: { plain: number; tta: number }
  onnxruntime_patches_s: { plain: number; tta: number }
}

async function rates(
  run: string,
  engine: Engine,
  store: PatchStore,
  indices: number[],
  batchSize: number,
): Promise<{ plain: number; tta: number }> {
  const predictor = await openPredictor(run, engine)
  try {
    const rate = async (tta: boolean) => {
      await predictStoreWith(predictor, store, indices.slice(0, batchSize), { batchSize, tta }) // warm-up
      const started = performance.now()
      await predictStoreWith(predictor, store, indices, { batchSize, tta })
      return indices.length / ((performance.now() - started) / 1000)
    }
    return { plain: await rate(false), tta: await rate(true) }
  } finally {
    predictor.dispose()
  }
}

export async function benchPredict(options: {
  run: string
  store: string
  patches: number
  batchSize: number
  /** The engine whose figures fill plainPatchesPerSec / ttaPatchesPerSec. */
  engine?: Engine
}): Promise<PredictBenchResult> {
  const store = PatchStore.open(options.store)
  try {
    const indices = [...Array(Math.min(options.patches, store.count)).keys()]
    const libtorch = await rates(options.run, 'libtorch', store, indices, options.batchSize)
    const onnx = await rates(options.run, 'onnxruntime', store, indices, options.batchSize)
    const main = (options.engine ?? 'libtorch') === 'libtorch' ? libtorch : onnx
    return {
      patches: indices.length,
      batchSize: options.batchSize,
      plainPatchesPerSec: main.plain,
      ttaPatchesPerSec: main.tta,
      libtorch_patches_s: libtorch,
      onnxruntime_patches_s: onnx,
    }
  } finally {
    store.dispose()
  }
}
