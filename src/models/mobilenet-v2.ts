/**
 * MobileNetV2 with torchvision's structure and names (features.N.conv..., classifier.1), so its
 * ImageNet weights load unchanged.
 * @see torchvision.models.mobilenet_v2
 * @module
 */
import {
  BatchNorm2d,
  Conv2d,
  Dropout,
  kaimingNormal_,
  Linear,
  Module,
  normal_,
  ReLU6,
  Sequential,
  zeros_,
} from '../nn/index.js'
import { adaptiveAvgPool2d, scope, type Tensor } from '../torch/index.js'

/** Conv → BN → ReLU6, torchvision's Conv2dNormActivation. */
function convBnRelu6(
  inChannels: number,
  outChannels: number,
  kernel = 3,
  stride = 1,
  groups = 1,
): Sequential {
  const padding = (kernel - 1) / 2
  return new Sequential(
    new Conv2d(inChannels, outChannels, kernel, { stride, padding, groups, bias: false }),
    new BatchNorm2d(outChannels),
    new ReLU6(),
  )
}

/** The nearest multiple of `divisor` that loses no more than 10%, as torchvision rounds widths. */
export function makeDivisible(value: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor((value + divisor / 2) / divisor) * divisor)
  return rounded < 0.9 * value ? rounded + divisor : rounded
}

export class InvertedResidual extends Module {
  readonly conv: Sequential
  readonly useResidual: boolean

  constructor(inChannels: number, outChannels: number, stride: number, expandRatio: number) {
    super()
    const hidden = Math.round(inChannels * expandRatio)
    this.useResidual = stride === 1 && inChannels === outChannels
    const layers: Module[] = []
    if (expandRatio !== 1) layers.push(convBnRelu6(inChannels, hidden, 1))
    layers.push(
      convBnRelu6(hidden, hidden, 3, stride, hidden),
      new Conv2d(hidden, outChannels, 1, { bias: false }),
      new BatchNorm2d(outChannels),
    )
    this.conv = this.registerModule('conv', new Sequential(...layers))
  }

  forward(x: Tensor): Tensor {
    return scope(() => (this.useResidual ? x.add(this.conv.forward(x)) : this.conv.forward(x)))
  }
}

// [expand ratio, channels, repeats, first stride]
const SETTINGS: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
]

export class MobileNetV2 extends Module {
  readonly features: Sequential
  /** Dropout + linear classifier; null for a feature-only backbone (numClasses 0). */
  readonly classifier: Sequential | null
  readonly lastChannels: number

  constructor(numClasses = 1000, options: { widthMult?: number; dropout?: number } = {}) {
    super()
    const { widthMult = 1, dropout = 0.2 } = options
    let inChannels = makeDivisible(32 * widthMult)
    this.lastChannels = makeDivisible(1280 * Math.max(1, widthMult))
    const layers: Module[] = [convBnRelu6(3, inChannels, 3, 2)]
    for (const [t, c, n, s] of SETTINGS) {
      const out = makeDivisible(c * widthMult)
      for (let i = 0; i < n; i++) {
        layers.push(new InvertedResidual(inChannels, out, i === 0 ? s : 1, t))
        inChannels = out
      }
    }
    layers.push(convBnRelu6(inChannels, this.lastChannels, 1))
    this.features = this.registerModule('features', new Sequential(...layers))
    const fc = numClasses > 0 ? new Linear(this.lastChannels, numClasses) : null
    this.classifier = fc
      ? this.registerModule('classifier', new Sequential(new Dropout(dropout), fc))
      : null
    for (const module of this.modules()) {
      if (module instanceof Conv2d) {
        kaimingNormal_(module.weight, { mode: 'fanOut' })
        if (module.bias) zeros_(module.bias)
      }
    }
    if (fc) {
      normal_(fc.weight, 0, 0.01)
      zeros_(fc.bias!)
    }
  }

  forwardFeatures(x: Tensor): Tensor {
    return this.features.forward(x)
  }

  forward(x: Tensor): Tensor {
    const classifier = this.classifier
    if (!classifier)
      throw new Error('Built without a classifier (numClasses 0); use forwardFeatures')
    return scope(() =>
      classifier.forward(adaptiveAvgPool2d(this.features.forward(x), 1).flatten(1)),
    )
  }
}

export function mobilenetV2(numClasses = 1000, options: { dropout?: number } = {}): MobileNetV2 {
  return new MobileNetV2(numClasses, options)
}
