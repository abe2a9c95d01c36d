/**
 * Activation layers.
 * @see torch.nn.ReLU
 * @module
 */
import { relu, relu6, sigmoid, type Tensor } from '../torch/index.js'
import { Module } from './module.js'

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x)
  }
}

/** min(max(x, 0), 6), MobileNet's activation. */
export class ReLU6 extends Module {
  forward(x: Tensor): Tensor {
    return relu6(x)
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x)
  }
}
