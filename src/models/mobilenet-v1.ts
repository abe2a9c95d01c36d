/**
 * MobileNet v1 with TensorFlow's "same" padding (asymmetric at stride 2) and Keras' batch-norm
 * epsilon, so the Keras / TF.js ImageNet weights give the same outputs here as in TensorFlow.
 * @module
 */
import { BatchNorm2d, Conv2d, Dropout, Linear, Module, ReLU6, Sequential } from '../nn/index.js'
import { adaptiveAvgPool2d, scope, type Tensor } from '../torch/index.js'

// Output channels and strides of the 13 depthwise-separable blocks (before the width multiplier).
const BLOCKS: [number, number][] = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
]

export class DepthwiseSeparable extends Module {
  readonly dw: Conv2d
  readonly dwBn: BatchNorm2d
  readonly pw: Conv2d
  readonly pwBn: BatchNorm2d
  readonly #relu = new ReLU6()

  constructor(inChannels: number, outChannels: number, stride: number, eps: number) {
    super()
    const dw = new Conv2d(inChannels, inChannels, 3, {
      stride,
      padding: 'same',
      groups: inChannels,
      bias: false,
    })
    this.dw = this.registerModule('dw', dw)
    this.dwBn = this.registerModule('dw_bn', new BatchNorm2d(inChannels, { eps }))
    this.pw = this.registerModule('pw', new Conv2d(inChannels, outChannels, 1, { bias: false }))
    this.pwBn = this.registerModule('pw_bn', new BatchNorm2d(outChannels, { eps }))
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const depthwise = this.#relu.forward(this.dwBn.forward(this.dw.forward(x)))
      return this.#relu.forward(this.pwBn.forward(this.pw.forward(depthwise)))
    })
  }
}

export interface MobileNetV1Options {
  /** Width multiplier (0.25, 0.5, 0.75, 1). */
  alpha?: number
  dropout?: number
  /** Batch-norm epsilon; Keras uses 1e-3. */
  eps?: number
}

export class MobileNetV1 extends Module {
  readonly stem: Sequential
  readonly features: Sequential
  /** Dropout + linear classifier; null for a feature-only backbone (numClasses 0). */
  readonly classifier: Sequential | null
  readonly lastChannels: number

  constructor(numClasses = 1000, options: MobileNetV1Options = {}) {
    super()
    const { alpha = 1, dropout = 1e-3, eps = 1e-3 } = options
    const width = (c: number) => Math.round(c * alpha)
    this.stem = this.registerModule(
      'stem',
      new Sequential(
        new Conv2d(3, width(32), 3, { stride: 2, padding: 'same', bias: false }),
        new BatchNorm2d(width(32), { eps }),
        new ReLU6(),
      ),
    )
    let channels = width(32)
    const blocks = BLOCKS.map(([out, stride]) => {
      const block = new DepthwiseSeparable(channels, width(out), stride, eps)
      channels = width(out)
      return block
    })
    this.features = this.registerModule('features', new Sequential(...blocks))
    this.lastChannels = channels
    const head = () => new Sequential(new Dropout(dropout), new Linear(channels, numClasses))
    this.classifier = numClasses > 0 ? this.registerModule('classifier', head()) : null
  }

  forwardFeatures(x: Tensor): Tensor {
    return scope(() => this.features.forward(this.stem.forward(x)))
  }

  forward(x: Tensor): Tensor {
    const classifier = this.classifier
    if (!classifier)
      throw new Error('Built without a classifier (numClasses 0); use forwardFeatures')
    return scope(() => classifier.forward(adaptiveAvgPool2d(this.forwardFeatures(x), 1).flatten(1)))
  }
}
