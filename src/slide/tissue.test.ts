// Which pyramid level a slide's thumbnail is read from: never coarser than needed, and from the
// fewest pixels that give that resolution.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { SlideLevel } from '../torch/openslide.js'
import { thumbnailPlan } from './tissue.js'

function pyramid(width: number, height: number, downsamples: number[]): SlideLevel[] {
  return downsamples.map((d) => ({
    width: Math.floor(width / d),
    height: Math.floor(height / d),
    downsample: d,
  }))
}

describe('thumbnail plan', () => {
  it('reads the coarser level when it gives the same thumbnail as a finer one averaged', () => {
    // libvips' pyramid of an 8880 x 11868 mosaic: 11868 / 2048 = 5.8, so level 2 (4x) averaged
    // by 2 or level 3 (8x) as it is; the second reads a quarter of the pixels.
    const levels = pyramid(8880, 11868, [1, 2, 4.0007, 8.004, 16.03, 32.12])
    assert.deepEqual(thumbnailPlan(levels, 2048), { level: 3, factor: 1 })
    // An Aperio-like pyramid (4x apart): 100000 / 2048 = 48.8 -> 16x averaged by 4 = 64x itself.
    const svs = pyramid(100000, 80000, [1, 4, 16, 64])
    assert.deepEqual(thumbnailPlan(svs, 2048), { level: 3, factor: 1 })
  })

  it('keeps the finer level only when no coarser one reaches the same resolution', () => {
    // Levels 1 and 3: 5000 / 2048 = 2.4 -> level 0 averaged by 3; level 1 (3x) matches it.
    assert.deepEqual(thumbnailPlan(pyramid(5000, 4000, [1, 3]), 2048), { level: 1, factor: 1 })
    // Levels 1 and 4: 6000 / 2048 = 2.9 -> level 0 averaged by 3; 4x would be coarser.
    assert.deepEqual(thumbnailPlan(pyramid(6000, 4000, [1, 4]), 2048), { level: 0, factor: 3 })
    // One level, small slide: read as it is.
    assert.deepEqual(thumbnailPlan(pyramid(2220, 2967, [1]), 2048), { level: 0, factor: 2 })
    assert.deepEqual(thumbnailPlan(pyramid(1000, 800, [1]), 2048), { level: 0, factor: 1 })
  })
})
