// Tumour regions as polygons: rings around on-cells, holes kept, corner-touching cells apart,
// areas equal to the cells they cover, level-0 coordinates from the grid.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { polygons, signedArea, traceRings, tumourGeoJson } from './geojson.js'

/** Cells from rows of '#' (on) and '.' (off). */
function cells(...rows: string[]): { on: Uint8Array; cols: number; rows: number } {
  const on = Uint8Array.from(rows.join('').split(''), (c) => (c === '#' ? 1 : 0))
  return { on, cols: (rows[0] as string).length, rows: rows.length }
}

const area = (polygon: [number, number][][]) =>
  polygon.reduce((sum, ring) => sum + signedArea(ring), 0) / 2

function noRepeatedVertex(ring: [number, number][]): void {
  const keys = ring.slice(0, -1).map((p) => p.join(','))
  assert.equal(new Set(keys).size, keys.length, `ring touches itself: ${keys.join(' ')}`)
}

describe('tumour polygons', () => {
  it('keeps a hole inside its polygon, with the area of the cells', () => {
    const g = cells('###', '#.#', '###')
    const result = polygons(g.on, g.cols, g.rows)
    assert.equal(result.length, 1)
    assert.equal(result[0]!.length, 2, 'outer ring and one hole')
    assert.ok(signedArea(result[0]![0]!) > 0, 'outer ring counterclockwise')
    assert.ok(signedArea(result[0]![1]!) < 0, 'hole clockwise')
    assert.equal(area(result[0]!), 8)
  })

  it('keeps cells that touch only by a corner in separate polygons', () => {
    const g = cells('#.', '.#')
    const result = polygons(g.on, g.cols, g.rows)
    assert.equal(result.length, 2)
    for (const p of result) assert.equal(area(p), 1)
  })

  it('never writes a ring that touches itself, whatever the pattern', () => {
    const g = cells('##.#', '#.##', '.#.#', '####')
    const rings = traceRings(g.on, g.cols, g.rows)
    for (const ring of rings) noRepeatedVertex(ring)
    const total = polygons(g.on, g.cols, g.rows).reduce((s, p) => s + area(p), 0)
    assert.equal(total, [...g.on].filter((v) => v).length)
  })

  it('writes level-0 coordinates of each cell, centred on its tile with overlap', () => {
    const probabilities = Float32Array.from([0.9, 0.1, Number.NaN, 0.1])
    const grid = { cols: 2, rows: 2, tileSize0: 100, stride0: 50 }
    const collection = tumourGeoJson(probabilities, grid, 0.5)
    assert.equal(collection.type, 'FeatureCollection')
    assert.equal(collection.features.length, 1)
    const ring = collection.features[0]!.geometry.coordinates[0]!
    assert.deepEqual(
      ring.map((p) => p.join(',')).sort(),
      ['25,25', '25,25', '25,75', '75,25', '75,75'].sort(),
    )
  })
})
