/**
 * Regions of a tile grid above a threshold as GeoJSON polygons in level-0 pixel coordinates
 * (x right, y down, as QuPath and OpenSlide use them). Each tile contributes its central
 * stride x stride cell (the whole tile when the stride is the tile size); cells touching by a side
 * merge into one polygon, cells touching only by a corner stay apart. Following RFC 7946's
 * right-hand rule on the numbers as written, outer rings run counterclockwise and holes clockwise.
 * @module
 */
import type { TileGrid } from './grid.js'

export interface Feature {
  type: 'Feature'
  geometry: { type: 'Polygon'; coordinates: number[][][] }
  properties: Record<string, unknown>
}

export interface FeatureCollection {
  type: 'FeatureCollection'
  features: Feature[]
}

type Point = [number, number]

/**
 * Rings around the cells that are on (row-major rows x cols); vertices are grid corners.
 * Boundary edges run with the region on their left; at a corner shared by two diagonal cells the
 * walk turns left, which keeps those cells in separate rings.
 */
export function traceRings(on: Uint8Array, cols: number, rows: number): Point[][] {
  const at = (c: number, r: number) =>
    c >= 0 && r >= 0 && c < cols && r < rows && on[r * cols + c] === 1
  const edges = new Map<string, Point[]>() // start vertex → ends of unused edges
  const key = (p: Point) => `${p[0]},${p[1]}`
  const add = (a: Point, b: Point) => {
    const list = edges.get(key(a)) ?? []
    list.push(b)
    edges.set(key(a), list)
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (!at(c, r)) continue
      if (!at(c, r - 1)) add([c, r], [c + 1, r])
      if (!at(c + 1, r)) add([c + 1, r], [c + 1, r + 1])
      if (!at(c, r + 1)) add([c + 1, r + 1], [c, r + 1])
      if (!at(c - 1, r)) add([c, r + 1], [c, r])
    }
  }
  const rings: Point[][] = []
  for (const [startKey, ends] of edges) {
    while (ends.length > 0) {
      const start = startKey.split(',').map(Number) as Point
      const ring: Point[] = [start]
      const seen = new Map<string, number>([[startKey, 0]])
      let from = start
      let to = ends.pop() as Point
      while (key(to) !== startKey) {
        // A vertex met again closes a loop (a hole touching the ring at a corner): it becomes
        // a ring of its own, so no ring touches itself.
        const again = seen.get(key(to))
        if (again !== undefined) {
          const loop = ring.splice(again + 1)
          loop.unshift(to)
          loop.push(to)
          for (const p of loop.slice(1, -1)) seen.delete(key(p))
          rings.push(simplify(loop))
        } else {
          seen.set(key(to), ring.length)
          ring.push(to)
        }
        const next = edges.get(key(to)) as Point[]
        const dir: Point = [Math.sign(to[0] - from[0]), Math.sign(to[1] - from[1])]
        // Prefer the left turn, then straight on, then right (left of (dx, dy) is (-dy, dx)).
        const order: Point[] = [[-dir[1], dir[0]], dir, [dir[1], -dir[0]]]
        const index = order
          .map((d) => next.findIndex((p) => p[0] - to[0] === d[0] && p[1] - to[1] === d[1]))
          .find((i) => i >= 0) as number
        from = to
        to = next.splice(index, 1)[0] as Point
      }
      ring.push(start)
      rings.push(simplify(ring))
    }
  }
  return rings
}

/** Drops vertices in the middle of straight runs (the ring stays closed). */
function simplify(ring: Point[]): Point[] {
  const open = ring.slice(0, -1)
  const kept = open.filter((p, i) => {
    const a = open[(i - 1 + open.length) % open.length] as Point
    const b = open[(i + 1) % open.length] as Point
    return (p[0] - a[0]) * (b[1] - p[1]) - (p[1] - a[1]) * (b[0] - p[0]) !== 0
  })
  return [...kept, kept[0] as Point]
}

/** Twice the signed area (shoelace); positive for counterclockwise rings. */
export function signedArea(ring: Point[]): number {
  let sum = 0
  for (let i = 0; i + 1 < ring.length; i++) {
    const [x0, y0] = ring[i] as Point
    const [x1, y1] = ring[i + 1] as Point
    sum += x0 * y1 - x1 * y0
  }
  return sum
}

/** Whether `point` is inside the closed `ring` (even-odd rule, ray cast to the right). */
export function inside(point: readonly number[], ring: readonly (readonly number[])[]): boolean {
  type P = readonly [number, number]
  const [px, py] = point as P
  let result = false
  for (let i = 0, j = ring.length - 2; i < ring.length - 1; j = i++) {
    const [xi, yi] = ring[i] as P
    const [xj, yj] = ring[j] as P
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) result = !result
  }
  return result
}

/** Polygons (outer ring first, then its holes) in grid-corner coordinates. */
export function polygons(on: Uint8Array, cols: number, rows: number): Point[][][] {
  const rings = traceRings(on, cols, rows)
  const outers = rings.filter((r) => signedArea(r) > 0).map((r) => [r])
  for (const hole of rings.filter((r) => signedArea(r) < 0)) {
    // The centre of the cell right of the hole's first edge lies inside the hole, on no boundary.
    const [a, b] = hole as [Point, Point]
    const probe: Point = [
      (a[0] + b[0]) / 2 + (b[1] - a[1]) / 2,
      (a[1] + b[1]) / 2 - (b[0] - a[0]) / 2,
    ]
    const owner = outers.find((p) => inside(probe, p[0] as Point[]))
    owner?.push(hole)
  }
  return outers
}

/** The regions whose tiles' probability reaches `threshold`, as a QuPath-importable collection. */
export function tumourGeoJson(
  probabilities: Float32Array,
  grid: TileGrid,
  threshold: number,
  name = 'Tumor',
): FeatureCollection {
  const on = new Uint8Array(grid.cols * grid.rows)
  probabilities.forEach((p, i) => {
    on[i] = p >= threshold ? 1 : 0
  })
  const offset = (grid.tileSize0 - grid.stride0) / 2
  const toSlide = (p: Point): number[] => [
    Math.round((offset + p[0] * grid.stride0) * 100) / 100,
    Math.round((offset + p[1] * grid.stride0) * 100) / 100,
  ]
  return {
    type: 'FeatureCollection',
    features: polygons(on, grid.cols, grid.rows).map((rings) => ({
      type: 'Feature',
      geometry: { type: 'Polygon', coordinates: rings.map((ring) => ring.map(toSlide)) },
      properties: {
        objectType: 'annotation',
        classification: { name, color: [255, 0, 0] },
        threshold,
      },
    })),
  }
}

/**
 * One QuPath tile object per predicted tile, its probability as the measurement "Tumor
 * probability", so that QuPath's Measurement Maps colour the slide by it.
 */
export function tilesGeoJson(
  tiles: readonly { x: number; y: number }[],
  probabilities: Float32Array,
  tileSize0: number,
): FeatureCollection {
  const size = Math.round(tileSize0)
  return {
    type: 'FeatureCollection',
    features: tiles.map((t, i) => ({
      type: 'Feature',
      geometry: {
        type: 'Polygon',
        // Counterclockwise as written, as the annotations above.
        coordinates: [
          [
            [t.x, t.y],
            [t.x, t.y + size],
            [t.x + size, t.y + size],
            [t.x + size, t.y],
            [t.x, t.y],
          ],
        ],
      },
      properties: {
        objectType: 'tile',
        measurements: { 'Tumor probability': Number((probabilities[i] as number).toFixed(6)) },
      },
    })),
  }
}
