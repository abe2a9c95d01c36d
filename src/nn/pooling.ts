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
  cat,
  scope,
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

export interface AvgPool2dOptions {
  stride?: Pair
  padding?: Pair
  ceilMode?: boolean
  countIncludePad?: boolean
}

/** A pool over fixed windows: the kernel size and the options of its functional form. */
abstract class WindowPool2d<O extends { stride?: Pair }> extends Module {
  readonly kernelSize: [number, number]
  constructor(
    kernelSize: Pair,
    readonly options: O,
  ) {
    super()
    this.kernelSize = pair(kernelSize, 'kernelSize', 1)
  }
  override extraRepr(): string {
    const stride = pair(this.options.stride ?? this.kernelSize, 'stride', 1)
    return `kernel_size=(${this.kernelSize}), stride=(${stride})`
  }
}

export class MaxPool2d extends WindowPool2d<MaxPool2dOptions> {
  constructor(kernelSize: Pair, options: MaxPool2dOptions = {}) {
    super(kernelSize, options)
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.options)
  }
}

export class AvgPool2d extends WindowPool2d<AvgPool2dOptions> {
  constructor(kernelSize: Pair, options: AvgPool2dOptions = {}) {
    super(kernelSize, options)
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.options)
  }
}

/** A pool to a fixed output size, whatever the input size. */
abstract class AdaptivePool2d extends Module {
  readonly outputSize: [number, number]
  constructor(outputSize: Pair) {
    super()
    this.outputSize = pair(outputSize, 'outputSize', 1)
  }
  override extraRepr(): string {
    return `output_size=(${this.outputSize})`
  }
}

export class AdaptiveAvgPool2d extends AdaptivePool2d {
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize)
  }
}

export class AdaptiveMaxPool2d extends AdaptivePool2d {
  forward(x: Tensor): Tensor {
    return adaptiveMaxPool2d(x, this.outputSize)
  }
}

/** Max and average pooling to 1x1, concatenated along channels (fastai's head: max first). */
export class AdaptiveConcatPool2d extends Module {
  forward(x: Tensor): Tensor {
    return scope(() => cat([adaptiveMaxPool2d(x, 1), adaptiveAvgPool2d(x, 1)], 1))
  }
}
