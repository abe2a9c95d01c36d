// A slide's µm/px from OpenSlide's and TIFF's properties, and the level and read size that match
// the model's resolution.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DataError } from '../errors.js'
import { slideResolution, tileScale } from './resolution.js'

describe('slide resolution', () => {
  it("prefers openslide.mpp-x/y, then TIFF resolution in cm or inch, then --slide-mpp's", () => {
    const props = { 'openslide.mpp-x': '0.25', 'openslide.mpp-y': '0.26' }
    assert.equal(slideResolution('a.svs', props).mpp, 0.255)
    const cm = { 'tiff.XResolution': '40000', 'tiff.ResolutionUnit': 'centimeter' }
    assert.equal(slideResolution('a.tif', cm).mpp, 0.25)
    const inch = { 'tiff.XResolution': '50800', 'tiff.ResolutionUnit': 'inch' }
    assert.equal(slideResolution('a.tif', inch).mpp, 0.5)
    assert.equal(slideResolution('a.tif', inch, 0.3).mpp, 0.3)
  })

  it('refuses a slide without resolution, or with a placeholder one, naming --slide-mpp', () => {
    const cases: Record<string, string>[] = [
      {},
      { 'tiff.XResolution': '72', 'tiff.ResolutionUnit': 'inch' },
      { 'tiff.XResolution': '40000', 'tiff.ResolutionUnit': 'none' },
    ]
    for (const props of cases) {
      assert.throws(
        () => slideResolution('/slides/x.tif', props),
        (e: Error) =>
          e instanceof DataError &&
          /\/slides\/x\.tif/.test(e.message) &&
          /--slide-mpp/.test(e.message),
      )
    }
  })
})

describe('tile scale', () => {
  const levels = [
    { width: 40000, height: 30000, downsample: 1 },
    { width: 10000, height: 7500, downsample: 4 },
    { width: 2500, height: 1875, downsample: 16 },
  ]
  it('reads the level that matches the model as it is', () => {
    const s = tileScale(levels, 0.243, 0.972, 96)
    assert.deepEqual(s, { level: 1, factor: 4, readSize: 96, tileSize0: 384, resample: false })
  })
  it('reads a level slightly coarser than the model and enlarges it, not a level 16x larger', () => {
    // An Aperio 40x scan: level 1 at 1.0 µm/px, 3% coarser than the model's 0.972.
    const s = tileScale(levels, 0.25, 0.972, 96)
    assert.equal(s.level, 1)
    assert.equal(s.resample, true)
    assert.equal(s.readSize, Math.ceil((96 * (0.972 / 0.25)) / 4))
    assert.ok(s.readSize < 96)
    assert.ok(Math.abs(s.tileSize0 - 96 * (0.972 / 0.25)) < 1e-9)
    // 10% coarser is too much: level 0, reduced.
    assert.equal(tileScale(levels, 0.27, 0.972, 96).level, 0)
  })
  it('reads a finer level and resizes when none matches', () => {
    const s = tileScale(levels, 0.5, 0.972, 96)
    assert.equal(s.level, 0)
    assert.equal(s.resample, true)
    assert.equal(s.readSize, Math.ceil(96 * (0.972 / 0.5)))
    assert.ok(Math.abs(s.tileSize0 - 96 * 1.944) < 1e-9)
  })
})
