/**
 * Conv2d, with PyTorch's arguments plus TensorFlow's "same" padding (asymmetric when the stride
 * needs it), which Keras-trained weights such as MobileNet expect.
 * @see torch.nn.Conv2d
 * @module
 */
import { ValidationError } from '../errors.js'
import { checkInteger, conv2d, empty, pair, type Pair, type Tensor } from '../torch/index.js'
import { defaultLayerInit } from './init.js'
import { Module } from './module.js'
import { Parameter } from './parameter.js'

/**
 * Conv2d padding: one number for all sides, [height, width], [left, right, top, bottom] (as
 * torch.nn.functional.pad), or TensorFlow's 'same' or 'valid' (none).
 */
export type Conv2dPadding = Pair | [number, number, number, number] | 'same' | 'valid'

/** Options of Conv2d, as the keyword arguments of torch.nn.Conv2d. */
export interface Conv2dOptions {
  /** Step of the kernel, one number or [height, width]; 1 by default. */
  stride?: Pair
  /** Padding of the input; 0 by default. */
  padding?: Conv2dPadding
  /** Spacing between kernel elements, one number or [height, width]; 1 by default. */
  dilation?: Pair
  /** Channel groups (both channel counts must divide by it), as torch.nn.Conv2d's; 1 by default. */
  groups?: number
  /** Whether to learn a bias; true by default. */
  bias?: boolean
}

/** TensorFlow's "same" padding for one axis: [before, after], the extra pixel after. */
export function samePadding(
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
): [number, number] {
  const out = Math.ceil(size / stride)
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
  const before = Math.floor(total / 2)
  return [before, total - before]
}

/** 2-D convolution of (N, C, H, W) input, as torch.nn.Conv2d, plus TensorFlow's 'same' padding. */
export class Conv2d extends Module {
  /** Channels C of the input. */
  readonly inChannels: number
  /** Channels of the output (the number of filters). */
  readonly outChannels: number
  /** Kernel [height, width]. */
  readonly kernelSize: [number, number]
  /** Step of the kernel, [height, width]. */
  readonly stride: [number, number]
  /** Padding as given (0 by default); paddingFor() resolves it for an input size. */
  readonly padding: Conv2dPadding
  /** Spacing between kernel elements, [height, width]. */
  readonly dilation: [number, number]
  /** Number of channel groups, as torch.nn.Conv2d's groups. */
  readonly groups: number
  /** Filters of shape [outChannels, inChannels / groups, kH, kW]. */
  readonly weight: Parameter
  /** Bias of shape [outChannels]; null when created with bias false. */
  readonly bias: Parameter | null

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: Pair,
    options: Conv2dOptions = {},
  ) {
    super()
    this.inChannels = checkInteger(inChannels, 'inChannels', 1)
    this.outChannels = checkInteger(outChannels, 'outChannels', 1)
    this.kernelSize = pair(kernelSize, 'kernelSize', 1)
    this.stride = pair(options.stride ?? 1, 'stride', 1)
    this.dilation = pair(options.dilation ?? 1, 'dilation', 1)
    this.groups = checkInteger(options.groups ?? 1, 'groups', 1)
    this.padding = options.padding ?? 0
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ValidationError(
        `inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${this.groups})`,
      )
    }
    const shape = [outChannels, inChannels / this.groups, ...this.kernelSize]
    this.weight = this.registerParameter('weight', new Parameter(empty(shape)))
    this.bias = this.registerParameter(
      'bias',
      options.bias === false ? null : new Parameter(empty([outChannels])),
    )
    this.resetParameters()
  }

  /** Re-initialises weight and bias in place with PyTorch's default for conv layers. */
  resetParameters(): void {
    defaultLayerInit(this.weight, this.bias)
  }

  /** Explicit padding for an input of the given height and width. */
  paddingFor(height: number, width: number): [number, number] | [number, number, number, number] {
    const p = this.padding
    if (p === 'valid') return [0, 0]
    if (p === 'same') {
      const [top, bottom] = samePadding(
        height,
        this.kernelSize[0],
        this.stride[0],
        this.dilation[0],
      )
      const [left, right] = samePadding(width, this.kernelSize[1], this.stride[1], this.dilation[1])
      return top === bottom && left === right ? [top, left] : [left, right, top, bottom]
    }
    if (Array.isArray(p) && p.length === 4) return p
    return pair(p as Pair, 'padding', 0)
  }

  /** Convolves (N, C, H, W) `x` into a new (N, outChannels, H', W') tensor owned by the caller. */
  forward(x: Tensor): Tensor {
    const [height, width] = x.shape.slice(-2) as [number, number]
    return conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.paddingFor(height, width),
      dilation: this.dilation,
      groups: this.groups,
    })
  }

  override extraRepr(): string {
    const parts = [
      `${this.inChannels}, ${this.outChannels}, kernel_size=(${this.kernelSize})`,
      `stride=(${this.stride})`,
    ]
    if (this.padding !== 0) parts.push(`padding=${JSON.stringify(this.padding)}`)
    if (this.dilation[0] !== 1 || this.dilation[1] !== 1) parts.push(`dilation=(${this.dilation})`)
    if (this.groups !== 1) parts.push(`groups=${this.groups}`)
    if (this.bias === null) parts.push('bias=False')
    return parts.join(', ')
  }
}
