// Annotations in: QuPath GeoJSON (both shapes QuPath exports, holes, MultiPolygons) and ASAP XML
// as Camelyon16 ships it, classes mapped by --classes, and every bad file, class, ring and point
// named on a line of its own.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  annotationFileFor,
  checkInsideSlide,
  insideRegion,
  parseClassMap,
  readAnnotations,
  selfIntersection,
} from '../../src/slide/annotations.js'
import { tempDir } from '../helpers/temp-dir.js'

const dir = tempDir('annotations')
const write = (name: string, content: unknown) => {
  const path = join(dir, name)
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
  return path
}
const square = (x: number, y: number, s: number) => [
  [x, y],
  [x + s, y],
  [x + s, y + s],
  [x, y + s],
  [x, y],
]
const feature = (geometry: unknown, name?: string) => ({
  type: 'Feature',
  geometry,
  properties: { objectType: 'annotation', ...(name ? { classification: { name } } : {}) },
})

describe('annotations', () => {
  it('reads a QuPath FeatureCollection and a bare array, with holes and MultiPolygons', () => {
    const features = [
      feature({ type: 'Polygon', coordinates: [square(0, 0, 100), square(40, 40, 20)] }, 'Tumor'),
      feature(
        { type: 'MultiPolygon', coordinates: [[square(200, 0, 50)], [square(300, 0, 50)]] },
        'Normal',
      ),
    ]
    for (const content of [{ type: 'FeatureCollection', features }, features]) {
      const { regions } = readAnnotations(write('qupath.geojson', content))
      assert.deepEqual(
        regions.map((r) => [r.kind, r.holes.length]),
        [
          ['tumour', 1],
          ['normal', 0],
          ['normal', 0],
        ],
      )
      const tumour = regions[0]!
      assert.equal(insideRegion(tumour, 10, 10), true)
      assert.equal(insideRegion(tumour, 50, 50), false, 'inside the hole')
      assert.equal(insideRegion(tumour, 150, 50), false)
      assert.equal(tumour.outer.length, 4, 'the closing point is dropped')
    }
  })

  it('reads ASAP XML as Camelyon16 ships it: _0 and _1 tumour, _2 an exclusion', () => {
    const coordinates = (points: number[][]) =>
      points
        .map(([x, y], k) => `<Coordinate Order="${k}" X="${x}" Y="${y}" />`)
        .reverse() // order comes from Order, not from the file's sequence
        .join('\n        ')
    const xml = `<?xml version="1.0"?>
<ASAP_Annotations>
  <Annotations>
    <Annotation Name="Annotation 0" Type="Polygon" PartOfGroup="_0" Color="#F4FA58">
      <Coordinates>
        ${coordinates(square(1000, 1000, 500).slice(0, 4))}
      </Coordinates>
    </Annotation>
    <Annotation Name="Annotation 1" Type="Spline" PartOfGroup="_2" Color="#64FE2E">
      <Coordinates>${coordinates(square(1100, 1100, 100).slice(0, 4))}</Coordinates>
    </Annotation>
  </Annotations>
  <AnnotationGroups>
    <Group Name="_0" PartOfGroup="None" Color="#ff0000"><Attributes /></Group>
  </AnnotationGroups>
</ASAP_Annotations>`
    const { regions } = readAnnotations(write('tumor_001.xml', xml))
    assert.deepEqual(
      regions.map((r) => [r.kind, r.className, r.outer[0]]),
      [
        ['tumour', '_0', [1000, 1000]],
        ['exclude', '_2', [1100, 1100]],
      ],
    )
  })

  it('names every problem on a line of its own: the file and the feature', () => {
    const bad = write('bad.geojson', [
      feature({ type: 'Polygon', coordinates: [square(0, 0, 10)] }, 'Lymphocyte'),
      feature({ type: 'Polygon', coordinates: [square(0, 0, 10)] }),
      feature({ type: 'Point', coordinates: [5, 5] }, 'Tumor'),
      // a bow tie: (0,0) (10,10) (10,0) (0,10)
      feature(
        {
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [10, 10],
              [10, 0],
              [0, 10],
              [0, 0],
            ],
          ],
        },
        'Tumor',
      ),
      feature(
        {
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              ['x', 1],
              [3, 3],
            ],
          ],
        },
        'Tumor',
      ),
      feature(
        {
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [1, 1],
              [0, 0],
            ],
          ],
        },
        'Tumor',
      ),
    ])
    assert.throws(
      () => readAnnotations(bad),
      (error: Error) => {
        const lines = error.message.split('\n')
        assert.equal(error.name, 'DataError')
        assert.equal(lines.length, 6, error.message)
        assert.ok(
          lines.every((l) => l.startsWith(`${bad}: feature `)),
          error.message,
        )
        assert.match(
          lines[0]!,
          /feature 0 has the class "Lymphocyte", which --classes does not map/,
        )
        assert.match(lines[1]!, /feature 1 has no class name/)
        assert.match(lines[2]!, /feature 2 is a Point; only Polygon and MultiPolygon/)
        assert.match(lines[3]!, /feature 3 has a ring that crosses itself near \(5, 5\)/)
        assert.match(lines[4]!, /feature 4 has a point that is not two numbers/)
        assert.match(lines[5]!, /feature 5 has a ring of fewer than three distinct points/)
        return true
      },
    )
    for (const [name, content, message] of [
      ['truncated.geojson', '[{"type": "Feature"', /is not valid JSON/],
      ['object.json', '{"type": "Topology"}', /expected a FeatureCollection or a list of Features/],
      [
        'unclosed.xml',
        '<ASAP_Annotations><Annotations>',
        /is not valid XML: <Annotations> is never closed/,
      ],
      ['other.xml', '<svg></svg>', /root element is <svg>/],
      ['entity.xml', '<!DOCTYPE x [<!ENTITY a "b">]><ASAP_Annotations/>', /DOCTYPE/],
    ] as const) {
      const path = write(name, content)
      assert.throws(
        () => readAnnotations(path),
        (error: Error) => {
          assert.equal(error.name, 'DataError')
          assert.ok(error.message.startsWith(path), error.message)
          assert.match(error.message, message)
          return true
        },
      )
    }
  })

  it('maps classes with --classes, and refuses points outside the slide', () => {
    const path = write('classes.geojson', [
      feature({ type: 'Polygon', coordinates: [square(0, 0, 10)] }, 'Lymphocyte'),
      feature({ type: 'Polygon', coordinates: [square(5000, 0, 10)] }, 'Tumor'),
    ])
    const { regions, file } = readAnnotations(path, parseClassMap('lymphocyte=0,TUMOR=1'))
    assert.deepEqual(
      regions.map((r) => r.kind),
      ['normal', 'tumour'],
    )
    assert.throws(
      () => checkInsideSlide({ file, regions }, 1000, 1000),
      new RegExp(`${path}: feature 1 has the point \\(5000, 0\\) outside the slide \\(1000 x 1000`),
    )
    assert.throws(() => parseClassMap('Tumor=yes'), /name=1\|0\|exclude/)
  })

  it('finds annotation files by slide name, and crossings in long rings', () => {
    write('slide_7.xml', '<ASAP_Annotations/>')
    assert.equal(annotationFileFor('/data/slides/slide_7.tif', dir), join(dir, 'slide_7.xml'))
    assert.equal(annotationFileFor('/data/slides/slide_8.tif', dir), null)
    // A 20,000-point circle, then the same with two points swapped (a crossing).
    const circle: [number, number][] = Array.from({ length: 20_000 }, (_, k) => [
      1000 * Math.cos((2 * Math.PI * k) / 20_000),
      1000 * Math.sin((2 * Math.PI * k) / 20_000),
    ])
    assert.equal(selfIntersection(circle), null)
    const crossed = circle.slice()
    ;[crossed[100], crossed[101]] = [crossed[101]!, crossed[100]!]
    assert.ok(selfIntersection(crossed))
  })
})
