/**
 * The engine benchmark's reference network (docs/performance.md): four conv3x3 (no bias) → BN → ReLU blocks
 * of 32, 64, 128, 256 channels, max-pool 2 after the first three, global average pool, linear to 1.
 * bench/engine_torch.py builds the same network in PyTorch, with the same state-dict names.
 * @module
 */
import { AdaptiveAvgPool2d, Flatten, Linear, Sequential } from '../nn/index.js'
import { SMALL_WIDTHS, SmallCnn } from '../models/small.js'

/** The small CNN's layers (the same four blocks) with a global average pool and a linear output. */
export function referenceNet(): Sequential {
  const body = new SmallCnn()
  const channels = SMALL_WIDTHS[SMALL_WIDTHS.length - 1] as number
  return new Sequential(
    ...body.features.layers,
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(channels, 1),
  )
}
