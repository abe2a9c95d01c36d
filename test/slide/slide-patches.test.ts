// pcam data prepare from annotated slides: mosaics of real patches whose tumour cells are known,
// annotated in GeoJSON and in ASAP XML (one a 40x-like scan at 0.243 µm/px, read from its level
// at 0.972), and a normal slide labelled by CSV. The stored labels must agree with the mosaics by
// PCam's centre rule, the pixels with the patches the mosaics were made of, and the split must
// keep each slide on one side.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { decodePatch } from '../../src/data/decode.js'
import { PatchStore } from '../../src/data/store.js'
import { enlargedMosaic, makeMosaic, PATCH, type Mosaic } from '../helpers/mosaic.js'
import { skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

const BIN = fileURLToPath(new URL('../../../bin/pcam.js', import.meta.url))
const pcam = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' })

describe('patches from annotated slides', { skip: skipWithoutData }, () => {
  const root = tempDir('slide-patches')
  const slides = join(root, 'slides')
  const annotations = join(root, 'annotations')
  let a: Mosaic
  let b: Mosaic
  let normal: Mosaic
  const labels = join(root, 'labels.csv')
  // pcam data prepare <sources> --annotations <the test's annotations> <args>
  const prepare = (sources: string, ...args: string[]) =>
    pcam('data', 'prepare', sources, '--annotations', annotations, ...args)

  before(async () => {
    mkdirSync(slides)
    mkdirSync(annotations)
    a = await makeMosaic(join(slides, 'slide_a.tif'), 8, 6, [2, 1, 6, 4])
    const region = (x0: number, y0: number, x1: number, y1: number, s = PATCH) => [
      [x0 * s, y0 * s],
      [x1 * s, y0 * s],
      [x1 * s, y1 * s],
      [x0 * s, y1 * s],
      [x0 * s, y0 * s],
    ]
    writeFileSync(
      join(annotations, 'slide_a.geojson'),
      JSON.stringify([
        {
          type: 'Feature',
          geometry: { type: 'Polygon', coordinates: [region(2, 1, 6, 4)] },
          properties: { objectType: 'annotation', classification: { name: 'Tumor' } },
        },
      ]),
    )
    // B: tumour cells [1, 1, 4, 3) at 40x; the cell (2, 1) is an exclusion inside the tumour.
    b = await makeMosaic(join(root, 'b-10x.tif'), 6, 4, [1, 1, 4, 3], { offset: 200 })
    await enlargedMosaic(b, join(slides, 'slide_b.tif'), 4)
    const coordinates = (ring: number[][]) =>
      ring
        .slice(0, 4)
        .map(([x, y], k) => `<Coordinate Order="${k}" X="${x}" Y="${y}" />`)
        .join('')
    writeFileSync(
      join(annotations, 'slide_b.xml'),
      '<?xml version="1.0"?><ASAP_Annotations><Annotations>' +
        `<Annotation Name="tumour" Type="Polygon" PartOfGroup="_0"><Coordinates>${coordinates(region(1, 1, 4, 3, PATCH * 4))}</Coordinates></Annotation>` +
        `<Annotation Name="not tumour" Type="Polygon" PartOfGroup="_2"><Coordinates>${coordinates(region(2, 1, 3, 2, PATCH * 4))}</Coordinates></Annotation>` +
        '</Annotations></ASAP_Annotations>',
    )
    normal = await makeMosaic(join(slides, 'slide_n.tif'), 4, 3, [0, 0, 0, 0], { offset: 400 })
    writeFileSync(labels, 'slide,label\nslide_n.tif,0\n')
  })

  it('labels patches by the centre rule, keeps their pixels and splits by slide', async () => {
    const out = join(root, 'store')
    const r = prepare(slides, '--labels', labels, '--out', out, '--min-tissue', '0')
    assert.equal(r.status, 0, r.stderr)
    const store = PatchStore.open(out)
    try {
      const expected = new Map<string, number>()
      for (const [m, stem, scale] of [
        [a, 'slide_a', 1],
        [b, 'slide_b', 4],
        [normal, 'slide_n', 1],
      ] as const)
        for (let row = 0; row < m.rows; row++)
          for (let col = 0; col < m.cols; col++) {
            if (stem === 'slide_b' && col === 2 && row === 1) continue // the exclusion
            const id = `${stem}_${col * PATCH * scale}_${row * PATCH * scale}`
            expected.set(id, m.tumour[row * m.cols + col] ? 1 : 0)
          }
      const ids = store.meta.ids
      assert.deepEqual([...ids].sort(), [...expected.keys()].sort())
      ids.forEach((id, i) => assert.equal(store.label(i), expected.get(id), id))
      assert.equal(store.meta.mpp, 0.972)
      assert.deepEqual(
        store.meta.slides,
        ids.map((id) => id.replace(/_\d+_\d+$/, '')),
      )
      // Each slide on one side of the split.
      const sides = new Map<string, Set<string>>()
      ids.forEach((id, i) => {
        const slide = store.meta.slides![i] as string
        sides.set(slide, (sides.get(slide) ?? new Set()).add(store.meta.splits[i] as string))
      })
      for (const [slide, set] of sides) assert.equal(set.size, 1, `${slide} is on both sides`)
      // The pixels are the patches' own, from the 10x slide and from the 40x one's level 2.
      for (const [m, stem, scale, col, row] of [
        [a, 'slide_a', 1, 3, 2],
        [b, 'slide_b', 4, 1, 2],
      ] as const) {
        const i = ids.indexOf(`${stem}_${col * PATCH * scale}_${row * PATCH * scale}`)
        const original = await decodePatch(readFileSync(m.files[row * m.cols + col] as string))
        assert.ok(Buffer.from(store.image(i)).equals(original.pixels), `${stem} (${col}, ${row})`)
      }
    } finally {
      store.dispose()
    }
  })

  it('refuses a slide with neither annotations nor a label, naming it', () => {
    const r = prepare(slides, '--out', join(root, 'refused'))
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /slide_n\.tif: unlabelled: no annotations/)
  })

  it('adds hard negatives from an earlier prediction: its tiles at or above threshold outside tumour', () => {
    // A prediction of slide A as slide predict writes it: a tumour tile, two normal tiles over
    // the threshold (false positives) and one under it.
    const maps = join(root, 'maps-a')
    mkdirSync(join(maps, 'slide_a'), { recursive: true })
    writeFileSync(join(maps, 'slide_a', 'summary.json'), JSON.stringify({ threshold: 0.5 }))
    const tile = (col: number, row: number, p: number) =>
      [col * PATCH, row * PATCH, PATCH, PATCH, p].join(',')
    writeFileSync(
      join(maps, 'slide_a', 'tiles.csv'),
      [
        'x,y,width,height,probability',
        tile(3, 2, 0.9),
        tile(0, 5, 0.8),
        tile(7, 0, 0.6),
        tile(1, 1, 0.2),
      ].join('\n'),
    )
    const out = join(root, 'store-hard')
    const r = prepare(
      join(slides, 'slide_a.tif'),
      '--out',
      out,
      '--min-tissue',
      '0',
      '--per-slide',
      '2',
      '--hard-negatives',
      maps,
    )
    assert.equal(r.status, 0, r.stderr)
    const store = PatchStore.open(out)
    try {
      const normals = store.meta.ids.filter((_, i) => store.label(i) === 0)
      const tumours = store.meta.ids.filter((_, i) => store.label(i) === 1)
      assert.equal(tumours.length, 2, 'two tumour patches: --per-slide 2')
      // Two grid normals, and both false positives (unless the grid drew one of them).
      for (const id of [`slide_a_${0}_${5 * PATCH}`, `slide_a_${7 * PATCH}_${0}`])
        assert.ok(normals.includes(id), id)
      assert.ok(normals.length === 3 || normals.length === 4, normals.join(' '))
      assert.ok(
        !normals.includes(`slide_a_${3 * PATCH}_${2 * PATCH}`),
        'a tumour tile became a normal patch',
      )
      // Under the threshold: not a hard negative (it may only be one of the two grid draws).
      assert.ok(!normals.includes(`slide_a_${PATCH}_${PATCH}`) || normals.length === 4)
    } finally {
      store.dispose()
    }
  })

  it('--balance draws as many normal patches as tumour ones', () => {
    const out = join(root, 'store-balanced')
    const r = prepare(slides, '--labels', labels, '--out', out, '--min-tissue', '0', '--balance')
    assert.equal(r.status, 0, r.stderr)
    const store = PatchStore.open(out)
    try {
      const tumour = store.meta.ids.filter((_, i) => store.label(i) === 1).length
      assert.ok(tumour > 0)
      assert.equal(store.count - tumour, tumour)
    } finally {
      store.dispose()
    }
  })
})
