/**
 * Dropout: active in training mode only.
 * @see torch.nn.Dropout
 * @module
 */
import { checkNumber, dropout, type Tensor } from '../torch/index.js'
import { Module } from './module.js'

export class Dropout extends Module {
  readonly p: number

  constructor(p = 0.5) {
    super()
    this.p = checkNumber(p, 'p', 0, 1)
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training)
  }

  override extraRepr(): string {
    return `p=${this.p}`
  }
}
