/**
 * Linear (fully connected) layer.
 * @see torch.nn.Linear
 * @module
 */
import { checkInteger, empty, linear, type Tensor } from '../torch/index.js'
import { defaultLayerInit } from './init.js'
import { Module } from './module.js'
import { Parameter } from './parameter.js'

/** y = x Wᵀ + b over the last dimension, as torch.nn.Linear. */
export class Linear extends Module {
  /** Size of the last dimension of the input. */
  readonly inFeatures: number
  /** Size of the last dimension of the output. */
  readonly outFeatures: number
  /** Weight W of shape [outFeatures, inFeatures]. */
  readonly weight: Parameter
  /** Bias b of shape [outFeatures]; null when created with bias false. */
  readonly bias: Parameter | null

  constructor(inFeatures: number, outFeatures: number, options: { bias?: boolean } = {}) {
    super()
    this.inFeatures = checkInteger(inFeatures, 'inFeatures', 1)
    this.outFeatures = checkInteger(outFeatures, 'outFeatures', 1)
    this.weight = this.registerParameter('weight', new Parameter(empty([outFeatures, inFeatures])))
    this.bias = this.registerParameter(
      'bias',
      options.bias === false ? null : new Parameter(empty([outFeatures])),
    )
    this.resetParameters()
  }

  /** Re-initialises weight and bias in place with PyTorch's default for linear layers. */
  resetParameters(): void {
    defaultLayerInit(this.weight, this.bias)
  }

  /** Maps (*, inFeatures) `x` to a new (*, outFeatures) tensor that belongs to the caller. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias)
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias !== null}`
  }
}
