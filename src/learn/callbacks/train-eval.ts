/**
 * Training and evaluation mode (fastai's TrainEvalCallback): the model in training mode and
 * `learn.training` true for the training batches, evaluation mode and false for validation. Every
 * Learner has one; batch norm and dropout depend on it.
 * @module
 */
import type { Callback, Learner } from '../learner.js'

export class TrainEval implements Callback {
  // First, so that every other callback sees the mode of the phase it is in.
  readonly order = -100

  beforeTrain(learn: Learner): void {
    learn.model.train()
    learn.training = true
  }

  beforeValidate(learn: Learner): void {
    learn.model.eval()
    learn.training = false
  }
}
