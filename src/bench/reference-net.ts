/**
 * The engine benchmark's reference network (DESIGN.md): four conv3x3 (no bias) → BN → ReLU blocks
 * of 32, 64, 128, 256 channels, max-pool 2 after the first three, global average pool, linear to 1.
 * bench/engine_torch.py builds the same network in PyTorch, with the same state-dict names.
 * @module
 */
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
} from '../nn/index.js'
import type { Module } from '../nn/index.js'

export const REFERENCE_CHANNELS = [32, 64, 128, 256] as const

export function referenceNet(inChannels = 3): Sequential {
  const layers: Module[] = []
  let channels = inChannels
  for (const [i, width] of REFERENCE_CHANNELS.entries()) {
    layers.push(
      new Conv2d(channels, width, 3, { padding: 1, bias: false }),
      new BatchNorm2d(width),
      new ReLU(),
    )
    if (i < REFERENCE_CHANNELS.length - 1) layers.push(new MaxPool2d(2))
    channels = width
  }
  layers.push(new AdaptiveAvgPool2d(1), new Flatten(), new Linear(channels, 1))
  return new Sequential(...layers)
}
