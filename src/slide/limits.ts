/**
 * Bounds on the work one slide may ask for, checked before any pixel is read, so that a stride of
 * 1, a crafted 10^6 x 10^6 TIFF or a slide without a pyramid is refused at once with the fix
 * instead of running for hours or exhausting memory.
 * @module
 */
import { DataError, ValidationError } from '../errors.js'
import type { SlideLevel } from '../torch/openslide.js'
import type { TileGrid } from './grid.js'

export const SLIDE_WORK_LIMITS = {
  /**
   * Grid cells per slide (before the tissue mask drops background). A Camelyon16 slide at the
   * default stride is about 150,000; at 100 tiles/s, 500,000 tiles are already 1.4 hours.
   */
  maxTiles: 500_000,
  /** The smallest stride, as a share of the patch size: tiles overlapping by 7/8. */
  minStrideShare: 1 / 8,
  /**
   * Level pixels read to build a slide's thumbnail. A pyramid reads a few million; a slide
   * without coarse levels reads all of level 0, which past 2^32 pixels takes minutes.
   */
  maxThumbnailRead: 2 ** 32,
}

/** The stride in model pixels, or a ValidationError naming the bounds. */
export function checkStride(stride: number, patchSize: number): number {
  const min = Math.ceil(patchSize * SLIDE_WORK_LIMITS.minStrideShare)
  if (!Number.isInteger(stride) || stride < min || stride > 8 * patchSize)
    throw new ValidationError(
      `Expected a stride (model pixels between tiles) of a whole number in ${min}..${8 * patchSize} ` +
        `(the patch is ${patchSize}) but received ${stride}`,
    )
  return stride
}

/** Refuses a grid of more cells than `maxTiles`, saying how to get fewer. */
export function checkTileCount(name: string, grid: TileGrid, maxTiles: number): void {
  const cells = grid.cols * grid.rows
  if (cells > maxTiles)
    throw new DataError(
      `${name} would be cut into ${cells.toLocaleString('en')} tiles (${grid.cols} x ${grid.rows}), ` +
        `more than the ${maxTiles.toLocaleString('en')} allowed per slide; use a larger --stride, ` +
        'or raise --max-tiles if you mean it.',
    )
}

/** Refuses a thumbnail that would read more than maxThumbnailRead pixels of `level`. */
export function checkThumbnailRead(
  name: string,
  levels: readonly SlideLevel[],
  level: number,
): void {
  const { width, height } = levels[level] as SlideLevel
  if (width * height > SLIDE_WORK_LIMITS.maxThumbnailRead)
    throw new DataError(
      `${name} has no level coarse enough for its overview: it would read all ${width} x ${height} ` +
        `pixels of level ${level}, more than the ${SLIDE_WORK_LIMITS.maxThumbnailRead} pcam reads. ` +
        'Save it as a pyramid (vips tiffsave in.tif out.tif --tile --pyramid) and predict that.',
    )
}
