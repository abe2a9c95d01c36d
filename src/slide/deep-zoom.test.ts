// Deep Zoom geometry: the pyramid's levels, and the coarse levels left out where a slide has no
// coarse level of its own to read them from.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { OpenSlide } from '../torch/openslide.js'
import { deepZoomInfo } from './deep-zoom.js'

const slide = (levels: { width: number; height: number; downsample: number }[]) =>
  ({ levels }) as unknown as OpenSlide

describe('deep zoom', () => {
  it('serves every level of a slide that has coarse levels or is small', () => {
    const pyramid = slide([
      { width: 100000, height: 80000, downsample: 1 },
      { width: 1563, height: 1250, downsample: 64 },
    ])
    assert.deepEqual(deepZoomInfo(pyramid), {
      width: 100000,
      height: 80000,
      tileSize: 256,
      minLevel: 0,
      maxLevel: 17,
    })
    assert.equal(deepZoomInfo(slide([{ width: 2220, height: 2967, downsample: 1 }])).minLevel, 0)
  })

  it('starts further in on a single-level gigapixel slide, so no tile reads more than 4096²', () => {
    const info = deepZoomInfo(slide([{ width: 100000, height: 80000, downsample: 1 }]))
    assert.equal(info.maxLevel, 17)
    const span = 256 * 2 ** (info.maxLevel - info.minLevel)
    assert.ok(span * span <= 4096 * 4096, `level ${info.minLevel} reads ${span}²`)
    const coarser = 2 * span
    assert.ok(coarser * coarser > 4096 * 4096, 'the level above would read more')
  })
})
