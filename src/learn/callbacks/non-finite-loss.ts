/**
 * Stops training when the loss stops being a number (fastai's TerminateOnNaNCallback, but as an
 * error that says what to do): a diverged run only wastes time from there on. Every Learner has
 * one.
 * @module
 */
import { DataError } from '../../errors.js'
import type { Callback, Learner } from '../learner.js'

export class NonFiniteLossCheck implements Callback {
  // Before anything scales the loss or back-propagates it (GradScaler, -5).
  readonly order = -100

  beforeBackward(learn: Learner): void {
    if (Number.isFinite(learn.lossValue)) return
    throw new DataError(
      `The loss became ${learn.lossValue} at ${learn.stage} epoch ${learn.epoch + 1}, batch ` +
        `${learn.iter + 1}. Lower the learning rate (see "pcam lr-find").`,
    )
  }
}
