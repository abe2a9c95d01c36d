/**
 * Gradient clipping (fastai's GradientClip): the gradients' global norm is scaled down to at
 * most `maxNorm` before each optimizer step.
 * @module
 */
import { clipGradNorm } from '../../torch/index.js'
import type { Callback, Learner } from '../learner.js'

/** Clips the gradients' global 2-norm to `maxNorm` before each step (clip_grad_norm_ in torch). */
export class GradientClipping implements Callback {
  /** 0: after the gradients are averaged across ranks (-10) and unscaled (GradScaler, -5). */
  readonly order = 0

  constructor(
    /** The largest global 2-norm the gradients of all parameters together may have. */
    readonly maxNorm: number,
  ) {}

  /** Scales the gradients down to a global norm of at most maxNorm. */
  afterBackward(learn: Learner): void {
    clipGradNorm([...learn.model.parameters()], this.maxNorm)
  }
}
