/**
 * Lesion candidates from a slide's probability map, as Camelyon16 submissions list them: local
 * maxima after non-maximum suppression. The highest cell is a detection at its tile's centre;
 * every cell within the radius of it is suppressed; repeat while a cell reaches the floor.
 * @module
 */
import type { TileGrid } from './grid.js'

/** One lesion candidate: a tile that survived non-maximum suppression (a row of detections.csv). */
export interface Detection {
  /** Level-0 pixels: the centre of the detection's tile. */
  x: number
  /** Level-0 pixels, down from the top: the centre of the detection's tile. */
  y: number
  /** The tile's tumour probability, in [0, 1]. */
  probability: number
}

/** Default suppression radius (µm): about a tile and a half of PCam's 93 µm patches. */
export const DEFAULT_NMS_RADIUS_UM = 150
/** Cells below this are no candidates: they would add only false positives at thresholds under it. */
export const DETECTION_FLOOR = 0.1

/**
 * Detections of `cells` (probabilities per grid cell, row-major, NaN where not predicted) on a
 * slide of `mpp` µm/px, suppressing within `radiusUm` of each.
 */
export function detections(
  cells: Float32Array,
  grid: TileGrid,
  mpp: number,
  radiusUm = DEFAULT_NMS_RADIUS_UM,
  floor = DETECTION_FLOOR,
): Detection[] {
  const order = Array.from(cells.keys())
    .filter((i) => (cells[i] as number) >= floor)
    .sort((a, b) => (cells[b] as number) - (cells[a] as number) || a - b)
  const suppressed = new Uint8Array(cells.length)
  const radius = radiusUm / (mpp * grid.stride0) // in cells
  const reach = Math.floor(radius)
  const out: Detection[] = []
  for (const i of order) {
    if (suppressed[i]) continue
    const col = i % grid.cols
    const row = Math.floor(i / grid.cols)
    out.push({
      x: col * grid.stride0 + grid.tileSize0 / 2,
      y: row * grid.stride0 + grid.tileSize0 / 2,
      probability: cells[i] as number,
    })
    for (let r = Math.max(0, row - reach); r <= Math.min(grid.rows - 1, row + reach); r++)
      for (let c = Math.max(0, col - reach); c <= Math.min(grid.cols - 1, col + reach); c++)
        if ((r - row) ** 2 + (c - col) ** 2 <= radius * radius) suppressed[r * grid.cols + c] = 1
  }
  return out
}
