/**
 * `pcam bench predict`: batch prediction speed of a trained run on a store, with and without
 * test-time augmentation, on each engine (libtorch and ONNX Runtime) side by side.
 * @module
 */
import { PatchStore } from '../data/store.js'
import { readRunConfig } from '../run/run-folder.js'
import {
  defaultEngine,
  ENGINES,
  openPredictor,
  predictStoreWith,
  type Engine,
} from '../eval/predictor.js'

interface Rates {
  plain: number
  tta: number
}

export type PredictBenchResult = {
  patches: number
  batchSize: number
  /** The default engine's figures (what predict, eval and serve use unless told). */
  plainPatchesPerSec: number
  ttaPatchesPerSec: number
} & Record<`${Engine}_patches_s`, Rates>

async function rates(
  run: string,
  engine: Engine,
  store: PatchStore,
  indices: number[],
  batchSize: number,
): Promise<Rates> {
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
}): Promise<PredictBenchResult> {
  const store = PatchStore.open(options.store)
  try {
    const indices = [...Array(Math.min(options.patches, store.count)).keys()]
    const perEngine = {} as Record<`${Engine}_patches_s`, Rates>
    for (const engine of ENGINES)
      perEngine[`${engine}_patches_s`] = await rates(
        options.run,
        engine,
        store,
        indices,
        options.batchSize,
      )
    const main = perEngine[`${defaultEngine(readRunConfig(options.run))}_patches_s`]
    return {
      patches: indices.length,
      batchSize: options.batchSize,
      plainPatchesPerSec: main.plain,
      ttaPatchesPerSec: main.tta,
      ...perEngine,
    }
  } finally {
    store.dispose()
  }
}
