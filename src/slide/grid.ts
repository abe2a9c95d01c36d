/**
 * The tile grid over a slide: origin at the slide's (0, 0), tiles of the model's patch size at
 * the model's resolution, stepped by the stride; only tiles wholly inside the slide.
 * @module
 */
import { DataError } from '../errors.js'
import type { OpenSlide } from '../torch/openslide.js'
import { slideResolution, tileScale, type SlideResolution, type TileScale } from './resolution.js'
import { checkStride, checkTileCount, SLIDE_WORK_LIMITS } from './limits.js'
import { tissueFraction, type TissueMask } from './tissue.js'

export interface Tile {
  col: number
  row: number
  /** Top-left corner in level-0 pixels. */
  x: number
  y: number
}

/** The grid of tiles over a slide, with tile (col, row) at level-0 (col, row) x stride0. */
export interface TileGrid {
  /** Tiles across the slide. */
  cols: number
  /** Tiles down the slide. */
  rows: number
  /** Side of one tile in level-0 pixels. */
  tileSize0: number
  /** Step between tiles in level-0 pixels. */
  stride0: number
}

/** The grid of a slide of `width` x `height` level-0 pixels; `stride` is in model pixels. */
export function tileGrid(
  path: string,
  width: number,
  height: number,
  scale: TileScale,
  stride: number,
): TileGrid {
  const tileSize0 = scale.tileSize0
  const stride0 = stride * scale.factor
  const cols = Math.floor((width - tileSize0) / stride0 + 1e-9) + 1
  const rows = Math.floor((height - tileSize0) / stride0 + 1e-9) + 1
  if (width < tileSize0 - 1e-6 || height < tileSize0 - 1e-6 || cols <= 0 || rows <= 0)
    throw new DataError(
      `${path} (${width} x ${height} pixels) is smaller than one tile (${Math.round(tileSize0)} x ${Math.round(tileSize0)} level-0 pixels at the model's resolution)`,
    )
  return { cols, rows, tileSize0, stride0 }
}

/** How slideTiling cuts a slide for a model: its resolution, the level read, and the tile grid. */
export interface SlideTiling {
  /** The slide's µm per level-0 pixel and where that came from. */
  resolution: SlideResolution
  /** The level read and the scale at which tiles match the model's µm/px. */
  scale: TileScale
  /** The grid of tiles over the slide, in level-0 pixels. */
  grid: TileGrid
}

/**
 * How a slide is cut for a model: its µm/px (`slideMpp` overrides), the level and scale that match
 * the model's µm/px, and the grid of tiles `stride` model pixels apart (default the patch size),
 * refused when it has more than `maxTiles` cells (see SLIDE_WORK_LIMITS). `name` is how errors
 * call the slide (default its path).
 */
export function slideTiling(
  slide: OpenSlide,
  model: { mpp: number; patchSize: number },
  options: { slideMpp?: number; stride?: number; name?: string; maxTiles?: number } = {},
): SlideTiling {
  const name = options.name ?? slide.path
  const resolution = slideResolution(name, slide.properties, options.slideMpp)
  const scale = tileScale(slide.levels, resolution.mpp, model.mpp, model.patchSize)
  const base = slide.levels[0] as { width: number; height: number }
  const stride = checkStride(options.stride ?? model.patchSize, model.patchSize)
  const grid = tileGrid(name, base.width, base.height, scale, stride)
  checkTileCount(name, grid, options.maxTiles ?? SLIDE_WORK_LIMITS.maxTiles)
  return { resolution, scale, grid }
}

/** The tile whose grid cell holds level-0 point (x, y), or null outside the grid. */
export function tileAtPoint(grid: TileGrid, x: number, y: number): Tile | null {
  const col = Math.floor(x / grid.stride0)
  const row = Math.floor(y / grid.stride0)
  return col >= 0 && row >= 0 && col < grid.cols && row < grid.rows ? tileAt(grid, col, row) : null
}

/** The tile at (col, row). */
export function tileAt(grid: TileGrid, col: number, row: number): Tile {
  return { col, row, x: Math.round(col * grid.stride0), y: Math.round(row * grid.stride0) }
}

/** Every tile whose tissue share reaches `minTissue` (all tiles when mask is null). */
export function tissueTiles(grid: TileGrid, mask: TissueMask | null, minTissue: number): Tile[] {
  const tiles: Tile[] = []
  for (let row = 0; row < grid.rows; row++) {
    for (let col = 0; col < grid.cols; col++) {
      const tile = tileAt(grid, col, row)
      if (mask === null || tissueFraction(mask, tile.x, tile.y, grid.tileSize0) >= minTissue)
        tiles.push(tile)
    }
  }
  return tiles
}
