/**
 * Mosaic slides for tests: real 96x96 PCam patches laid out in a grid, written as a tiled
 * pyramidal TIFF (lossless) whose resolution says 0.972 µm/px, so tiles read back exactly the
 * pixels pcam predict decodes from the same files.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { decodePatch } from '../../src/data/decode.js'
import { PCAM_JPEG } from './shared-data.js'

export interface Mosaic {
  path: string
  cols: number
  rows: number
  /** files[row * cols + col]: the patch at that grid cell. */
  files: string[]
  /** Whether the cell lies in the tumour rectangle. */
  tumour: boolean[]
}

export const PATCH = 96

/**
 * A cols x rows mosaic; cells inside `region` ([col0, row0, col1, row1), exclusive ends) take
 * label-1 patches, the rest label-0 ones, starting at `offset` in each class folder.
 */
export async function makeMosaic(
  path: string,
  cols: number,
  rows: number,
  region: [number, number, number, number],
  options: { offset?: number; mppUm?: number | null } = {},
): Promise<Mosaic> {
  const { offset = 0, mppUm = 0.972 } = options
  const list = (label: number) =>
    readdirSync(join(PCAM_JPEG, 'valid', String(label)))
      .sort()
      .slice(offset)
      .map((f) => join(PCAM_JPEG, 'valid', String(label), f))
  const pools = [list(0), list(1)]
  const width = cols * PATCH
  const pixels = Buffer.alloc(width * rows * PATCH * 3)
  const files: string[] = []
  const tumour: boolean[] = []
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const inside = col >= region[0] && col < region[2] && row >= region[1] && row < region[3]
      const file = pools[inside ? 1 : 0]!.shift() as string
      const patch = await decodePatch(readFileSync(file))
      for (let y = 0; y < PATCH; y++)
        pixels.set(
          patch.pixels.subarray(y * PATCH * 3, (y + 1) * PATCH * 3),
          ((row * PATCH + y) * width + col * PATCH) * 3,
        )
      files.push(file)
      tumour.push(inside)
    }
  }
  const pxPerMm = mppUm === null ? undefined : 1000 / mppUm
  await sharp(pixels, { raw: { width, height: rows * PATCH, channels: 3 } })
    .tiff({
      tile: true,
      tileWidth: 128,
      tileHeight: 128,
      pyramid: true,
      compression: 'deflate',
      ...(pxPerMm === undefined ? {} : { xres: pxPerMm, yres: pxPerMm, resolutionUnit: 'cm' }),
    })
    .toFile(path)
  return { path, cols, rows, files, tumour }
}

/**
 * The mosaic enlarged `factor` times (nearest neighbour) as a pyramid at 0.972 / factor µm/px: a
 * 40x-like scan for factor 4, whose level at 0.972 µm/px holds the patches' very pixels.
 */
export async function enlargedMosaic(mosaic: Mosaic, path: string, factor = 4): Promise<void> {
  const [width, height] = [mosaic.cols * PATCH * factor, mosaic.rows * PATCH * factor]
  const pxPerMm = (1000 / 0.972) * factor
  await sharp(mosaic.path)
    .resize(width, height, { kernel: 'nearest' })
    .tiff({
      tile: true,
      tileWidth: 256,
      tileHeight: 256,
      pyramid: true,
      compression: 'deflate',
      xres: pxPerMm,
      yres: pxPerMm,
      resolutionUnit: 'cm',
    })
    .toFile(path)
}
