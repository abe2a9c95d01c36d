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
  type Pair,
  type Tensor,
} from '../torch/index.js'
import { Module } from './module.js'

/** Options of MaxPool2d, as the keyword arguments of torch.nn.MaxPool2d. */
export interface MaxPool2dOptions {
  /** Step of the window, one number or [height, width]; the kernel size by default. */
  stride?: Pair
  /** Implicit padding (with -inf) on each side, one number or [height, width]; 0 by default. */
  padding?: Pair
  /** Spacing between window elements, one number or [height, width]; 1 by default. */
  dilation?: Pair
  /** Round the output size up instead of down; false by default. */
  ceilMode?: boolean
}

/** Options of AvgPool2d, as the keyword arguments of torch.nn.AvgPool2d. */
export interface AvgPool2dOptions {
  /** Step of the window, one number or [height, width]; the kernel size by default. */
  stride?: Pair
  /** Zero padding on each side, one number or [height, width]; 0 by default. */
  padding?: Pair
  /** Round the output size up instead of down; false by default. */
  ceilMode?: boolean
  /** Count the zero padding in the averages' divisor; true by default. */
  countIncludePad?: boolean
}

/** A pool over fixed windows: the kernel size and the options of its functional form. */
abstract class WindowPool2d<O extends { stride?: Pair }> extends Module {
  /** Window [height, width]. */
  readonly kernelSize: [number, number]
  constructor(
    kernelSize: Pair,
    /** The options as given; missing ones take the functional form's defaults. */
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

/** Max over sliding windows of (N, C, H, W) input, as torch.nn.MaxPool2d. */
export class MaxPool2d extends WindowPool2d<MaxPool2dOptions> {
  constructor(kernelSize: Pair, options: MaxPool2dOptions = {}) {
    super(kernelSize, options)
  }
  /** Returns a new tensor that belongs to the caller. */
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.options)
  }
}

/** Mean over sliding windows of (N, C, H, W) input, as torch.nn.AvgPool2d. */
export class AvgPool2d extends WindowPool2d<AvgPool2dOptions> {
  constructor(kernelSize: Pair, options: AvgPool2dOptions = {}) {
    super(kernelSize, options)
  }
  /** Returns a new tensor that belongs to the caller. */
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.options)
  }
}

/** A pool to a fixed output size, whatever the input size. */
abstract class AdaptivePool2d extends Module {
  /** Output [height, width]. */
  readonly outputSize: [number, number]
  constructor(outputSize: Pair) {
    super()
    this.outputSize = pair(outputSize, 'outputSize', 1)
  }
  override extraRepr(): string {
    return `output_size=(${this.outputSize})`
  }
}

/** Averages (N, C, H, W) input down to a fixed output size, as torch.nn.AdaptiveAvgPool2d. */
export class AdaptiveAvgPool2d extends AdaptivePool2d {
  /** Returns a new (N, C, outputSize[0], outputSize[1]) tensor that belongs to the caller. */
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize)
  }
}

/** Max-pools (N, C, H, W) input down to a fixed output size, as torch.nn.AdaptiveMaxPool2d. */
export class AdaptiveMaxPool2d extends AdaptivePool2d {
  /** Returns a new (N, C, outputSize[0], outputSize[1]) tensor that belongs to the caller. */
  forward(x: Tensor): Tensor {
    return adaptiveMaxPool2d(x, this.outputSize)
  }
}

/** Max and average pooling to 1x1, concatenated along channels (fastai's head: max first). */
export class AdaptiveConcatPool2d extends Module {
  /** Returns a new (N, 2C, 1, 1) tensor that belongs to the caller. */
  forward(x: Tensor): Tensor {
    return scope(() => cat([adaptiveMaxPool2d(x, 1), adaptiveAvgPool2d(x, 1)], 1))
  }
}
