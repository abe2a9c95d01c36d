/**
 * Training and evaluation mode (fastai's TrainEvalCallback): the model in training mode and
 * `learn.training` true for the training batches, evaluation mode and false for validation. Every
 * Learner has one; batch norm and dropout depend on it.
 * @module
 */
import type { Callback, Learner } from '../learner.js'

/**
 * Puts the model in training mode for the training batches and in evaluation mode for
 * validation, and sets `learn.training` to match (fastai's TrainEvalCallback).
 */
export class TrainEval implements Callback {
  /** First (-100), so that every other callback sees the mode of the phase it is in. */
  readonly order = -100

  /** Training mode: model.train() and learn.training true. */
  beforeTrain(learn: Learner): void {
    learn.model.train()
    learn.training = true
  }

  /** Evaluation mode: model.eval() and learn.training false. */
  beforeValidate(learn: Learner): void {
    learn.model.eval()
    learn.training = false
  }
}
