/**
 * Deep Zoom tiles of a slide for the viewer, read on demand through OpenSlide: level L of the
 * pyramid is the slide at 2^(maxLevel - L) level-0 pixels per pixel, cut into square tiles (no
 * overlap), each read from the finest OpenSlide level no finer than it needs and resized.
 * @module
 */
import sharp from 'sharp'
import { ValidationError } from '../errors.js'
import type { OpenSlide } from '../torch/openslide.js'

export const DZ_TILE = 256

export interface DeepZoomInfo {
  width: number
  height: number
  tileSize: number
  maxLevel: number
}

export function deepZoomInfo(slide: OpenSlide): DeepZoomInfo {
  const { width, height } = slide.levels[0] as { width: number; height: number }
  return {
    width,
    height,
    tileSize: DZ_TILE,
    maxLevel: Math.ceil(Math.log2(Math.max(width, height, 1))),
  }
}

/** The JPEG of Deep Zoom tile (col, row) of `level`. */
export async function deepZoomTile(
  slide: OpenSlide,
  level: number,
  col: number,
  row: number,
): Promise<Buffer> {
  const info = deepZoomInfo(slide)
  if (!Number.isInteger(level) || level < 0 || level > info.maxLevel)
    throw new ValidationError(
      `Expected a Deep Zoom level in 0..${info.maxLevel} but received ${level}`,
    )
  const scale = 2 ** (info.maxLevel - level)
  const levelWidth = Math.ceil(info.width / scale)
  const levelHeight = Math.ceil(info.height / scale)
  const x = col * DZ_TILE
  const y = row * DZ_TILE
  if (
    !Number.isInteger(col) ||
    !Number.isInteger(row) ||
    col < 0 ||
    row < 0 ||
    x >= levelWidth ||
    y >= levelHeight
  )
    throw new ValidationError(`No Deep Zoom tile ${col}_${row} at level ${level}`)
  const width = Math.min(DZ_TILE, levelWidth - x)
  const height = Math.min(DZ_TILE, levelHeight - y)
  let osLevel = 0
  slide.levels.forEach((l, i) => {
    if (l.downsample <= scale + 1e-9) osLevel = i
  })
  const downsample = (slide.levels[osLevel] as { downsample: number }).downsample
  const readW = Math.max(1, Math.ceil((width * scale) / downsample))
  const readH = Math.max(1, Math.ceil((height * scale) / downsample))
  const region = await slide.readRegion(x * scale, y * scale, osLevel, readW, readH)
  try {
    const image = sharp(Buffer.from(region.data() as Uint8Array), {
      raw: { width: readW, height: readH, channels: 3 },
    })
    if (readW !== width || readH !== height) image.resize(width, height, { fit: 'fill' })
    return await image.jpeg({ quality: 85 }).toBuffer()
  } finally {
    region.dispose()
  }
}
