/**
 * Data-parallel training as a callback over a DataParallel group: rank 0's weights at the start
 * of every fit, gradients averaged before every step, batch-norm statistics made equal before
 * validation, and the ranks' validation outputs gathered so that every rank computes the metrics
 * of the whole valid set.
 * @module
 */
import type { DataParallel } from '../data-parallel.js'
import type { Callback, Learner } from '../learner.js'

export class DataParallelSync implements Callback {
  // Before gradient clipping, and before the Recorder computes metrics.
  readonly order = -10

  constructor(readonly dataParallel: DataParallel) {}

  beforeFit(learn: Learner): void {
    this.dataParallel.broadcastModel(learn.model)
  }

  afterBackward(learn: Learner): void {
    this.dataParallel.averageGradients([...learn.model.parameters()])
  }

  beforeValidate(learn: Learner): void {
    // Ranks normalised with their own batch statistics; validation and checkpoints need one set.
    this.dataParallel.syncBuffers(learn.model)
  }

  afterValidate(learn: Learner): void {
    const dp = this.dataParallel
    const mine = learn.valid
    if (!mine) return
    learn.valid = {
      probabilities: dp.gather(mine.probabilities),
      labels: dp.gather(mine.labels),
      classes: mine.classes,
      lossSum: (dp.sum([mine.lossSum]) as [number])[0],
    }
  }
}
