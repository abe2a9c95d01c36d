/**
 * Linear (fully connected) layer.
 * @see torch.nn.Linear
 * @module
 */
import { checkInteger, empty, linear, type Tensor } from '../torch/index.js'
import { defaultLayerInit } from './init.js'
import { Module } from './module.js'
import { Parameter } from './parameter.js'

export class Linear extends Module {
  readonly inFeatures: number
  readonly outFeatures: number
  readonly weight: Parameter
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

  resetParameters(): void {
    defaultLayerInit(this.weight, this.bias)
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias)
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias !== null}`
  }
}
