// Deep Zoom geometry: the pyramid's levels, and the coarse levels left out where a slide has no
// coarse level of its own to read them from.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { OpenSlide } from '../torch/openslide.js'
import { deepZoomInfo, deepZoomRead, MAX_TILE_READ } from './deep-zoom.js'

const slide = (levels: { width: number; height: number; downsample: number }[]) =>
  ({ levels }) as unknown as OpenSlide

describe('deep zoom', () => {
  it('serves every level of a slide that has coarse levels or is small', () => {
    // Levels 4x apart, as Aperio scanners write them.
    const pyramid = slide([
      { width: 100000, height: 80000, downsample: 1 },
      { width: 25000, height: 20000, downsample: 4 },
      { width: 6250, height: 5000, downsample: 16 },
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

  it('starts further in on a single-level gigapixel slide, so no tile reads more than MAX_TILE_READ', () => {
    const info = deepZoomInfo(slide([{ width: 100000, height: 80000, downsample: 1 }]))
    assert.equal(info.maxLevel, 17)
    const span = 256 * 2 ** (info.maxLevel - info.minLevel)
    assert.ok(span * span <= MAX_TILE_READ, `level ${info.minLevel} reads ${span}²`)
    const coarser = 2 * span
    assert.ok(coarser * coarser > MAX_TILE_READ, 'the level above would read more')
  })

  it('measures reads on the level actually read, not on the coarsest level', () => {
    // A crafted pyramid: level 1 is 1000x coarser, so Deep Zoom levels 8 to 512x coarser than
    // full resolution read from level 0. Measured on level 1 they looked cheap (2^26 pixels read).
    const sparse = slide([
      { width: 100000, height: 100000, downsample: 1 },
      { width: 100, height: 100, downsample: 1000 },
    ])
    const info = deepZoomInfo(sparse)
    for (let level = info.minLevel; level <= info.maxLevel; level++) {
      const read = deepZoomRead(sparse, level, 0, 0)
      assert.ok(
        read.readWidth * read.readHeight <= MAX_TILE_READ,
        `level ${level}: ${read.readWidth}²`,
      )
    }
    assert.ok(info.minLevel > 0)
    assert.throws(() => deepZoomRead(sparse, info.minLevel - 1, 0, 0), /Expected a Deep Zoom level/)
  })
})
