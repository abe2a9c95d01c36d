/**
 * A Learner on a patch store for tests: a small CNN with a linear head, batches of 16, seeded.
 * @module
 */
import { PatchLoader } from '../../src/data/loader.js'
import { PatchStore } from '../../src/data/store.js'
import { Learner, type LearnerOptions } from '../../src/learn/learner.js'
import { createModel } from '../../src/models/registry.js'
import type { RunConfig } from '../../src/run/run-folder.js'
import { manualSeed } from '../../src/torch/index.js'

/** The learner, the run config its model would have, and one dispose for everything. */
export function learnerOn(
  storeDir: string,
  { numClasses = 1, ...options }: LearnerOptions & { numClasses?: number } = {},
) {
  manualSeed(1)
  const store = PatchStore.open(storeDir)
  const normalization = { mean: store.meta.mean, std: store.meta.std }
  const loaderOptions = { batchSize: 16, seed: 1, normalization }
  const train = new PatchLoader(store, store.indicesOf('train'), {
    ...loaderOptions,
    shuffle: true,
    dropLast: true,
  })
  const valid = new PatchLoader(store, store.indicesOf('valid'), {
    ...loaderOptions,
    shuffle: false,
    dropLast: false,
  })
  const spec = { arch: 'small' as const, numClasses, head: 'linear' as const }
  const model = createModel(spec).toChannelsLast()
  const learn = new Learner(model, train, valid, options)
  const config: RunConfig = {
    model: spec,
    classes: store.meta.classes,
    inputSize: store.meta.height,
    normalization,
    recipe: {},
  }
  return {
    learn,
    config,
    dispose() {
      learn.dispose()
      model.dispose()
      train.dispose()
      valid.dispose()
      store.dispose()
    },
  }
}
