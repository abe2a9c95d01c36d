/**
 * Dropout: active in training mode only.
 * @see torch.nn.Dropout
 * @module
 */
import { checkNumber, dropout, type Tensor } from '../torch/index.js'
import { Module } from './module.js'

/**
 * Zeroes elements at random in training and scales the rest by 1 / (1 - p), as torch.nn.Dropout;
 * the identity in evaluation mode.
 */
export class Dropout extends Module {
  /** Probability of zeroing an element, in [0, 1]. */
  readonly p: number

  constructor(p = 0.5) {
    super()
    this.p = checkNumber(p, 'p', 0, 1)
  }

  /** Returns a new tensor; `x` is left as it is. */
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training)
  }

  override extraRepr(): string {
    return `p=${this.p}`
  }
}
