/**
 * `pcam bench predict`: batch prediction speed of a trained run on a store, with and without
 * test-time augmentation, on each engine (libtorch and ONNX Runtime) side by side.
 * @module
 */
import type { ComputeRequest } from '../learn/precision.js'
import { PatchStore } from '../data/store.js'
import { readRunConfig } from '../run/run-folder.js'
import {
  defaultEngine,
  ENGINES,
  openPredictor,
  predictionPlan,
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
  /** libtorch's precision and device (ONNX Runtime runs float32 on the CPU). */
  precision: string
  device: string
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
  compute: ComputeRequest,
): Promise<Rates> {
  const predictor = await openPredictor(run, engine, compute)
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

export async function benchPredict(
  options: {
    run: string
    store: string
    patches: number
    batchSize: number
  } & ComputeRequest,
): Promise<PredictBenchResult> {
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
        options,
      )
    const plan = predictionPlan(readRunConfig(options.run), options)
    const main = perEngine[`${defaultEngine(plan)}_patches_s`]
    return {
      patches: indices.length,
      batchSize: options.batchSize,
      precision: plan.precision,
      device: plan.device,
      plainPatchesPerSec: main.plain,
      ttaPatchesPerSec: main.tta,
      ...perEngine,
    }
  } finally {
    store.dispose()
  }
}
