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

/**
 * Largest read behind one Deep Zoom tile (pixels of the level read, 117 MB at its peak); levels
 * that would need more are not served. A pyramid whose levels are 4x apart reads at most 1024²
 * for a tile; a small slide without levels reads itself whole for its coarsest tiles. What many
 * requests read at once is bounded by the server (SLIDE_LIMITS.tileReadBytes).
 */
export const MAX_TILE_READ = 4096 * 4096
/** Bytes one read of `pixels` holds at its peak: OpenSlide's ARGB, then the RGB copy. */
export const READ_BYTES_PER_PIXEL = 4 + 3

/** Where one Deep Zoom tile comes from: the OpenSlide level, the region, and the tile's size. */
export interface TileRead {
  level: number
  col: number
  row: number
  /** Level-0 corner of the region. */
  x: number
  y: number
  osLevel: number
  readWidth: number
  readHeight: number
  width: number
  height: number
}

/** Pixels of the read behind the tile at (0, 0) of `level`, the largest of its level. */
function largestRead(
  slide: OpenSlide,
  width: number,
  height: number,
  maxLevel: number,
  level: number,
) {
  const scale = 2 ** (maxLevel - level)
  // Measured on the level actually read: the finest one no finer than the tile needs.
  const { downsample } = slide.levels[bestLevel(slide.levels, scale + 1e-9)] as {
    downsample: number
  }
  const span = DZ_TILE * scale
  return (
    Math.ceil(Math.min(span, width) / downsample) * Math.ceil(Math.min(span, height) / downsample)
  )
}

export function deepZoomInfo(slide: OpenSlide): DeepZoomInfo {
  const { width, height } = slide.levels[0] as { width: number; height: number }
  const maxLevel = Math.ceil(Math.log2(Math.max(width, height, 1)))
  // A slide without coarse levels (one level of gigapixels) would need the whole slide read for
  // the most zoomed-out tiles: those levels are left out and the viewer starts further in. Levels
  // are walked from the finest, since a sparse pyramid may serve a coarse level from a coarse
  // OpenSlide level but not the levels between.
  let minLevel = maxLevel
  while (minLevel > 0 && largestRead(slide, width, height, maxLevel, minLevel - 1) <= MAX_TILE_READ)
    minLevel--
  return { width, height, tileSize: DZ_TILE, minLevel, maxLevel }
}

/** Where tile (col, row) of `level` is read from; a ValidationError for one that does not exist. */
export function deepZoomRead(slide: OpenSlide, level: number, col: number, row: number): TileRead {
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
  return {
    level,
    col,
    row,
    x: x * scale,
    y: y * scale,
    osLevel,
    readWidth: Math.max(1, Math.ceil((width * scale) / downsample)),
    readHeight: Math.max(1, Math.ceil((height * scale) / downsample)),
    width,
    height,
  }
}

/** The JPEG of a Deep Zoom tile, read as `read` says. */
export async function deepZoomTile(slide: OpenSlide, read: TileRead): Promise<Buffer> {
  const { readWidth, readHeight, width, height } = read
  const region = await slide.readRegion(read.x, read.y, read.osLevel, readWidth, readHeight)
  try {
    const image = sharp(Buffer.from(region.data() as Uint8Array), {
      raw: { width: readWidth, height: readHeight, channels: 3 },
    })
    if (readWidth !== width || readHeight !== height) image.resize(width, height, { fit: 'fill' })
    return await image.jpeg({ quality: 85 }).toBuffer()
  } finally {
    region.dispose()
  }
}
