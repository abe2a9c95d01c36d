/**
 * The one-cycle schedule as a callback: before every training batch it sets each layer group's
 * learning rate and the momentum from the position in the fit (resumed fits included).
 * @module
 */
import type { Callback, Learner } from '../learner.js'
import { oneCycleAt, spreadLr, type OneCycleOptions } from '../schedule.js'

/**
 * Sets the learning rates and momentum of every training batch by the one-cycle policy
 * (fastai's fit_one_cycle); Learner.fitOneCycle adds one for the fit.
 */
export class OneCycleSchedule implements Callback {
  constructor(
    /** One peak rate, or [low, high] spread over the layer groups (discriminative rates). */
    readonly lr: number | [number, number],
    /** The schedule's shape (div, divFinal, pctStart, moms); fastai's defaults where not given. */
    readonly options: OneCycleOptions = {},
  ) {}

  /** In training, sets each layer group's rate and the momentum for the fit's progress so far. */
  beforeBatch(learn: Learner): void {
    if (!learn.training) return
    const peaks = spreadLr(this.lr, learn.layerGroups().length)
    const step = learn.epoch * learn.nIter + learn.iter
    const { lrScale, mom } = oneCycleAt(step / (learn.nEpochs * learn.nIter), this.options)
    learn.setHyper(
      peaks.map((p) => p * lrScale),
      mom,
    )
  }
}
