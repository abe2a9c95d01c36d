/**
 * Gradient clipping (fastai's GradientClip): the gradients' global norm is scaled down to at
 * most `maxNorm` before each optimizer step.
 * @module
 */
import { clipGradNorm } from '../../torch/index.js'
import type { Callback, Learner } from '../learner.js'

export class GradientClipping implements Callback {
  // After the gradients are averaged across ranks (data-parallel, order -10).
  readonly order = 0

  constructor(readonly maxNorm: number) {}

  afterBackward(learn: Learner): void {
    clipGradNorm([...learn.model.parameters()], this.maxNorm)
  }
}
