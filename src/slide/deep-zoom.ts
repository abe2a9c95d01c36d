/**
 * Deep Zoom tiles of a slide for the viewer, read on demand through OpenSlide: level L of the
 * pyramid is the slide at 2^(maxLevel - L) level-0 pixels per pixel, cut into square tiles (no
 * overlap), each read from the finest OpenSlide level no finer than it needs and resized.
 * @module
 */
import sharp from 'sharp'
import { ValidationError } from '../errors.js'
import { bestLevel, type OpenSlide } from '../torch/openslide.js'

export const DZ_TILE = 256

export interface DeepZoomInfo {
  width: number
  height: number
  tileSize: number
  /** The coarsest level served: below it a tile would need too large a read (see below). */
  minLevel: number
  maxLevel: number
}

/** Largest read behind one Deep Zoom tile (pixels); coarser levels are not served. */
const MAX_TILE_READ = 4096 * 4096

export function deepZoomInfo(slide: OpenSlide): DeepZoomInfo {
  const { width, height } = slide.levels[0] as { width: number; height: number }
  const maxLevel = Math.ceil(Math.log2(Math.max(width, height, 1)))
  // A slide without coarse levels (one level of gigapixels) would need the whole slide read for
  // the most zoomed-out tiles: those levels are left out and the viewer starts further in.
  const coarsest = (slide.levels.at(-1) as { downsample: number }).downsample
  const read = (level: number) => {
    const span = DZ_TILE * 2 ** (maxLevel - level)
    return (Math.min(span, width) / coarsest) * (Math.min(span, height) / coarsest)
  }
  let minLevel = 0
  while (minLevel < maxLevel && read(minLevel) > MAX_TILE_READ) minLevel++
  return { width, height, tileSize: DZ_TILE, minLevel, maxLevel }
}

/** The JPEG of Deep Zoom tile (col, row) of `level`. */
export async function deepZoomTile(
  slide: OpenSlide,
  level: number,
  col: number,
  row: number,
): Promise<Buffer> {
  const info = deepZoomInfo(slide)
  if (!Number.isInteger(level) || level < info.minLevel || level > info.maxLevel)
    throw new ValidationError(
      `Expected a Deep Zoom level in ${info.minLevel}..${info.maxLevel} but received ${level}`,
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
  // Level downsamples are floats: one a hair above the power of two still serves it.
  const osLevel = bestLevel(slide.levels, scale + 1e-9)
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
