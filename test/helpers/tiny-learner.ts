/**
 * A Learner on in-memory data for tests of the loop itself: a linear model on 2-D points whose
 * class is the sign of x0 + x1, batches held in arrays. Fast, and needs no patch data.
 * @module
 */
import { Learner, type LearnerBatch, type LearnerOptions } from '../../src/learn/learner.js'
import { Linear, Module } from '../../src/nn/index.js'
import { manualSeed, randn, type Tensor } from '../../src/torch/index.js'

/** One linear layer: 2 inputs, 1 logit. */
export class PointClassifier extends Module {
  readonly fc = this.registerModule('fc', new Linear(2, 1))
  forward(x: Tensor): Tensor {
    return this.fc.forward(x)
  }
}

/** `count` batches of `size` random points, labelled 1 where x0 + x1 > 0. */
export function pointBatches(count: number, size = 16): LearnerBatch[] {
  return Array.from({ length: count }, () => {
    const x = randn([size, 2])
    return { x, y: x.sum(1).gt(0).float() }
  })
}

/** A learner with `train` and `valid` batches, and one dispose for everything. */
export function tinyLearner(train: number, valid: number, options: LearnerOptions = {}) {
  manualSeed(7)
  const model = new PointClassifier()
  const trainBatches = pointBatches(train)
  const validBatches = pointBatches(valid)
  const learn = new Learner(model, trainBatches, validBatches, options)
  return {
    learn,
    model,
    dispose() {
      learn.dispose()
      model.dispose()
      for (const b of [...trainBatches, ...validBatches]) for (const t of [b.x, b.y]) t.dispose()
    },
  }
}
