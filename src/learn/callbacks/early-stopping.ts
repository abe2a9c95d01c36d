/**
 * Early stopping (fastai's EarlyStoppingCallback): ends the fit, as finished, when a validation
 * metric has not improved for `patience` epochs.
 * @module
 */
import { CancelFit, type Callback, type Learner } from '../learner.js'

export class EarlyStopping implements Callback {
  // Last: the epoch that triggers it is recorded and checkpointed first.
  readonly order = 100
  #best: number
  #sinceBest = 0

  constructor(
    readonly patience: number,
    readonly monitor = 'auc',
    /** The best value so far, when a run resumes. */
    best = -Infinity,
  ) {
    this.#best = best
  }

  afterEpoch(learn: Learner): void {
    const value = learn.recorder.last?.[this.monitor]
    if (typeof value !== 'number') return
    if (value > this.#best) {
      this.#best = value
      this.#sinceBest = 0
    } else if (++this.#sinceBest >= this.patience) {
      throw new CancelFit(true)
    }
  }
}
