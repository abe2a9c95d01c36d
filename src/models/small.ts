/**
 * A small CNN for training from scratch on a CPU: four stages of two conv3x3 → BN → ReLU with
 * 32, 64, 128, 256 channels, each stage halving the size with max-pooling.
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
    for (const width of SMALL_WIDTHS) {
      for (let i = 0; i < 2; i++) {
        layers.push(
          new Conv2d(channels, width, 3, { padding: 1, bias: false }),
          new BatchNorm2d(width),
          new ReLU(),
        )
        channels = width
      }
      layers.push(new MaxPool2d(2))
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
