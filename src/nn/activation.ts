/**
 * Activation layers.
 * @see torch.nn.ReLU
 * @module
 */
import { relu, relu6, sigmoid, type Tensor } from '../torch/index.js'
import { Module } from './module.js'

/** max(x, 0) elementwise, as torch.nn.ReLU. */
export class ReLU extends Module {
  /** Returns a new tensor; `x` is left as it is. */
  forward(x: Tensor): Tensor {
    return relu(x)
  }
}

/** min(max(x, 0), 6), MobileNet's activation. */
export class ReLU6 extends Module {
  /** Returns a new tensor; `x` is left as it is. */
  forward(x: Tensor): Tensor {
    return relu6(x)
  }
}

/** 1 / (1 + exp(-x)) elementwise, as torch.nn.Sigmoid. */
export class Sigmoid extends Module {
  /** Returns a new tensor; `x` is left as it is. */
  forward(x: Tensor): Tensor {
    return sigmoid(x)
  }
}
