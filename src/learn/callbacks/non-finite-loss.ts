/**
 * Stops training when the loss stops being a number (fastai's TerminateOnNaNCallback, but as an
 * error that says what to do): a diverged run only wastes time from there on. Every Learner has
 * one.
 * @module
 */
import { DataError } from '../../errors.js'
import type { Callback, Learner } from '../learner.js'

/**
 * Fails the fit with a DataError once a training batch's loss is inf or NaN (fastai's
 * TerminateOnNaNCallback); every Learner has one.
 */
export class NonFiniteLossCheck implements Callback {
  /** -100: before anything scales the loss or back-propagates it (GradScaler, -5). */
  readonly order = -100

  /** Throws a DataError naming the batch and the fix when the batch's loss is not finite. */
  beforeBackward(learn: Learner): void {
    if (Number.isFinite(learn.lossValue)) return
    throw new DataError(
      `The loss became ${learn.lossValue} at ${learn.stage} epoch ${learn.epoch + 1}, batch ` +
        `${learn.iter + 1}. Lower the learning rate (see "pcam lr-find").`,
    )
  }
}
