/**
 * Pooling layers: max, average and their adaptive (output-size) forms.
 * @see torch.nn.MaxPool2d
 * @module
 */
import {
  adaptiveAvgPool2d,
  adaptiveMaxPool2d,
  avgPool2d,
  maxPool2d,
  pair,
  type Tensor,
} from '../torch/index.js'
import { Module } from './module.js'

type Pair = number | [number, number]

export interface MaxPool2dOptions {
  stride?: Pair
  padding?: Pair
  dilation?: Pair
  ceilMode?: boolean
}

export class MaxPool2d extends Module {
  readonly kernelSize: [number, number]
  readonly options: MaxPool2dOptions

  constructor(kernelSize: Pair, options: MaxPool2dOptions = {}) {
    super()
    this.kernelSize = pair(kernelSize, 'kernelSize', 1)
    this.options = options
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.options)
  }
  override extraRepr(): string {
    return `kernel_size=(${this.kernelSize}), stride=${JSON.stringify(this.options.stride ?? this.kernelSize)}`
  }
}

export interface AvgPool2dOptions {
  stride?: Pair
  padding?: Pair
  ceilMode?: boolean
  countIncludePad?: boolean
}

export class AvgPool2d extends Module {
  readonly kernelSize: [number, number]
  readonly options: AvgPool2dOptions

  constructor(kernelSize: Pair, options: AvgPool2dOptions = {}) {
    super()
    this.kernelSize = pair(kernelSize, 'kernelSize', 1)
    this.options = options
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.options)
  }
  override extraRepr(): string {
    return `kernel_size=(${this.kernelSize})`
  }
}

export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: [number, number]
  constructor(outputSize: Pair) {
    super()
    this.outputSize = pair(outputSize, 'outputSize', 1)
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize)
  }
  override extraRepr(): string {
    return `output_size=(${this.outputSize})`
  }
}

export class AdaptiveMaxPool2d extends Module {
  readonly outputSize: [number, number]
  constructor(outputSize: Pair) {
    super()
    this.outputSize = pair(outputSize, 'outputSize', 1)
  }
  forward(x: Tensor): Tensor {
    return adaptiveMaxPool2d(x, this.outputSize)
  }
  override extraRepr(): string {
    return `output_size=(${this.outputSize})`
  }
}
