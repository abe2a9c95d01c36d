/**
 * Conv2d, with PyTorch's arguments plus TensorFlow's "same" padding (asymmetric when the stride
 * needs it), which Keras-trained weights such as MobileNet expect.
 * @see torch.nn.Conv2d
 * @module
 */
import { ValidationError } from '../errors.js'
import { checkInteger, conv2d, empty, pair, type Tensor } from '../torch/index.js'
import { defaultLayerInit } from './init.js'
import { Module } from './module.js'
import { Parameter } from './parameter.js'

type Pair = number | [number, number]
export type Conv2dPadding = Pair | [number, number, number, number] | 'same' | 'valid'

export interface Conv2dOptions {
  stride?: Pair
  padding?: Conv2dPadding
  dilation?: Pair
  groups?: number
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

export class Conv2d extends Module {
  readonly inChannels: number
  readonly outChannels: number
  readonly kernelSize: [number, number]
  readonly stride: [number, number]
  readonly padding: Conv2dPadding
  readonly dilation: [number, number]
  readonly groups: number
  readonly weight: Parameter
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
