/**
 * A small CNN for training from scratch on a CPU: four conv3x3 → BN → ReLU stages of 32, 64, 128
 * and 256 channels, max-pooling between them (the engine benchmark's reference network). A
 * variant with two convolutions per stage trained at 79 images/s here, about 3x slower.
 * @module
 */
import { BatchNorm2d, Conv2d, MaxPool2d, Module, ReLU, Sequential } from '../nn/index.js'
import type { Tensor } from '../torch/index.js'

export const SMALL_WIDTHS = [32, 64, 128, 256] as const

export class SmallCnn extends Module {
  readonly features: Sequential
  readonly lastChannels = SMALL_WIDTHS[SMALL_WIDTHS.length - 1] as number

  constructor() {
    super()
    const layers: Module[] = []
    let channels = 3
    for (const [i, width] of SMALL_WIDTHS.entries()) {
      layers.push(
        new Conv2d(channels, width, 3, { padding: 1, bias: false }),
        new BatchNorm2d(width),
        new ReLU(),
      )
      if (i < SMALL_WIDTHS.length - 1) layers.push(new MaxPool2d(2))
      channels = width
    }
    this.features = this.registerModule('features', new Sequential(...layers))
  }

  forwardFeatures(x: Tensor): Tensor {
    return this.features.forward(x)
  }

  forward(x: Tensor): Tensor {
    return this.forwardFeatures(x)
  }
}
