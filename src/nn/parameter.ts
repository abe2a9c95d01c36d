/**
 * Parameter: a tensor that a Module trains. It outlives any scope() it is created in.
 * @see torch.nn.Parameter
 * @module
 */
import { keep, Tensor } from '../torch/index.js'

/** A tensor registered as a trainable weight of a Module; it requires gradients by default. */
export class Parameter extends Tensor {
  /** Takes over `data` (which is disposed) and marks the result as requiring gradients. */
  constructor(data: Tensor, requiresGrad = true) {
    super(data)
    data.dispose()
    keep(this)
    this.requiresGrad_(requiresGrad)
  }
}
