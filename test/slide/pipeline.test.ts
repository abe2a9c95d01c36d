// Tiles read in strips: one OpenSlide read per run of tiles in a row, each tile cut from it at
// the level pixel nearest its own position, even where tiles are not a whole number of level
// pixels apart (a 0.5 µm/px scan read at 2x for a 0.972 µm/px model), and every read starting on
// a whole level pixel (between them OpenSlide resamples, slowly and blurred).
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import sharp from 'sharp'
import type { Tile } from '../../src/slide/grid.js'
import { levelPixel, readOrigin, readTiles } from '../../src/slide/pipeline.js'
import type { TileScale } from '../../src/slide/resolution.js'
import { OpenSlide } from '../../src/torch/openslide.js'
import { SHARED_DATA, skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

const SVS = join(SHARED_DATA, 'slides', 'CMU-1-Small-Region.svs')
const skip = skipWithoutData || (existsSync(SVS) ? false : `${SVS} not found`)

/** The real slide's level 0, cut to even sides, as a pyramidal TIFF whose level 1 is 2x coarser. */
async function pyramid(path: string): Promise<void> {
  using slide = await OpenSlide.open(SVS)
  const level0 = slide.levels[0] as { width: number; height: number }
  const [width, height] = [level0.width & ~1, level0.height & ~1]
  const region = await slide.readRegion(0, 0, 0, width, height)
  const pixels = Buffer.from(region.data() as Uint8Array)
  region.dispose()
  await sharp(pixels, { raw: { width, height, channels: 3 } })
    .tiff({ tile: true, pyramid: true, compression: 'jpeg', quality: 90 })
    .toFile(path)
}

describe('reading tiles in strips', { skip }, () => {
  it("cuts each tile from its row's strip at the level pixel nearest its own position, read on whole level pixels", async () => {
    const path = join(tempDir('pipeline'), 'pyramid.tif')
    await pyramid(path)
    using slide = await OpenSlide.open(path)
    assert.equal(slide.levels[1]?.downsample, 2)
    // 187 level-0 pixels apart from an odd origin: every other tile falls between level pixels.
    const readSize = 94
    const scale: TileScale = { level: 1, factor: 1.95, readSize, tileSize0: 187, resample: false }
    // Row 3: y = 561 is between level pixels too.
    const first = { col: 0, row: 3, x: 101, y: 3 * 187 }
    const tiles: Tile[] = [0, 1, 2, 3, 4, 5].map((col) => ({ ...first, col, x: 101 + col * 187 }))
    const batch = await readTiles(slide, tiles, scale, readSize)
    const pixels = batch.data() as Uint8Array
    batch.dispose()
    const size = readSize * readSize * 3
    for (const [i, tile] of tiles.entries()) {
      const [x, y] = [readOrigin(levelPixel(tile.x, 2), 2), readOrigin(levelPixel(tile.y, 2), 2)]
      assert.ok(x % 2 === 0 && y % 2 === 0, `tile ${i} is read between level pixels`)
      assert.ok(Math.abs(x - tile.x) <= 1, `tile ${i} starts ${x - tile.x} level-0 pixels off`)
      assert.ok(Math.abs(y - tile.y) <= 1, `tile ${i} starts ${y - tile.y} level-0 rows off`)
      // The reference: the tile alone, read on the whole level pixel nearest it.
      const own = await slide.readRegion(x, y, 1, readSize, readSize)
      const expected = own.data() as Uint8Array
      own.dispose()
      const got = pixels.subarray(i * size, (i + 1) * size)
      assert.ok(
        Buffer.from(got).equals(Buffer.from(expected)),
        `tile ${i} differs from its own read`,
      )
    }
  })
})
