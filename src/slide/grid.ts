/**
 * The tile grid over a slide: origin at the slide's (0, 0), tiles of the model's patch size at
 * the model's resolution, stepped by the stride; only tiles wholly inside the slide.
 * @module
 */
import { DataError } from '../errors.js'
import type { TileScale } from './resolution.js'
import { tissueFraction, type TissueMask } from './tissue.js'

export interface Tile {
  col: number
  row: number
  /** Top-left corner in level-0 pixels. */
  x: number
  y: number
}

export interface TileGrid {
  cols: number
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
