// pcam slide eval against an independent implementation of Camelyon16's evaluation (numpy,
// scipy, scikit-learn: froc_reference.py) on slides made here: prediction folders as slide
// predict writes them (summary.json, detections.csv), annotations in GeoJSON and ASAP XML with
// lesions of every kind (large, isolated tumour cells, an exclusion inside tumour, a diagonal
// edge, a thin strip), and normal slides labelled three ways.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { torchPython } from '../../src/bench/python.js'
import { writeCsv } from '../../src/data/csv.js'
import { tempDir } from '../helpers/temp-dir.js'

const BIN = fileURLToPath(new URL('../../../bin/pcam.js', import.meta.url))
const REFERENCE = fileURLToPath(new URL('../../../test/slide/froc_reference.py', import.meta.url))
const MPP = 0.243
const [WIDTH, HEIGHT] = [20000, 16000]

type Ring = number[][]
interface Region {
  kind: 'tumour' | 'exclude' | 'normal'
  outer: Ring
  holes: Ring[]
}
const rect = (x: number, y: number, w: number, h: number): Ring => [
  [x, y],
  [x + w, y],
  [x + w, y + h],
  [x, y + h],
]

/** A seeded generator, so that the case is the same on every run. */
function random(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

describe('slide eval', () => {
  const root = tempDir('slide-eval')
  const maps = join(root, 'maps')
  const annotations = join(root, 'annotations')
  mkdirSync(maps)
  mkdirSync(annotations)
  const next = random(7)
  const slides: { name: string; label: number; regions: Region[]; detections: number[][] }[] = []

  /** A prediction folder as slide predict writes it, with detections inside and around lesions. */
  function predicted(name: string, label: number, regions: Region[], inside: number[][]) {
    const detections = [...inside]
    for (let k = 0; k < 25; k++)
      detections.push([
        Math.round(next() * WIDTH),
        Math.round(next() * HEIGHT),
        Number((0.1 + 0.9 * next()).toFixed(6)),
      ])
    detections.sort((a, b) => b[2]! - a[2]!)
    const dir = join(maps, name.replace(/\.[^.]+$/, ''))
    mkdirSync(dir)
    const summary = {
      slide: `/slides/${name}`,
      width: WIDTH,
      height: HEIGHT,
      mpp: MPP,
      threshold: 0.5,
      score: { max: detections[0]![2], topKMean: 0, k: 10 },
      pcamVersion: 'test',
    }
    writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary))
    writeFileSync(
      join(dir, 'detections.csv'),
      writeCsv(['x', 'y', 'probability'], detections as number[][]),
    )
    slides.push({ name, label, regions, detections })
  }
  const geojson = (regions: Region[]) =>
    JSON.stringify({
      type: 'FeatureCollection',
      features: regions.map((r) => ({
        type: 'Feature',
        geometry: {
          type: 'Polygon',
          coordinates: [r.outer, ...r.holes].map((ring) => [...ring, ring[0]]),
        },
        properties: {
          objectType: 'annotation',
          classification: {
            name: r.kind === 'tumour' ? 'Tumor' : r.kind === 'exclude' ? 'Exclusion' : 'Normal',
          },
        },
      })),
    })

  // A: a large lesion, isolated tumour cells, a lesion around an exclusion, a diagonal edge.
  const a: Region[] = [
    { kind: 'tumour', outer: rect(4000, 4000, 2000, 1500), holes: [] },
    { kind: 'tumour', outer: rect(10000, 10000, 200, 200), holes: [] },
    { kind: 'tumour', outer: rect(12000, 2000, 3000, 3000), holes: [] },
    { kind: 'exclude', outer: rect(13000, 3000, 1000, 1000), holes: [] },
    {
      kind: 'tumour',
      outer: [
        [2000, 12000],
        [5000, 10500],
        [6100, 14000],
        [2500, 15000],
      ],
      holes: [],
    },
  ]
  writeFileSync(join(annotations, 'tumor_a.geojson'), geojson(a))
  predicted('tumor_a.tif', 1, a, [
    [5000, 4700, 0.97],
    [4100, 4100, 0.6],
    [10100, 10100, 0.9], // inside the isolated tumour cells: neither hit nor false positive
    [13500, 3500, 0.85], // inside the exclusion, which the evaluation fills back
    [4000, 13000, 0.4],
  ])
  // B: a lesion with a hole (GeoJSON), missed entirely.
  const b: Region[] = [
    { kind: 'tumour', outer: rect(8000, 8000, 4000, 3000), holes: [rect(9000, 9000, 1000, 1000)] },
  ]
  writeFileSync(join(annotations, 'tumor_b.json'), geojson(b))
  predicted('tumor_b.svs', 1, b, [])
  // C: ASAP XML, a thin strip 1300 x 80 px (316 x 19 µm) and a small square (ITC).
  const c: Region[] = [
    { kind: 'tumour', outer: rect(3000, 3000, 1300, 80), holes: [] },
    { kind: 'tumour', outer: rect(15000, 12000, 150, 150), holes: [] },
  ]
  const coordinates = (ring: Ring) =>
    ring.map(([x, y], k) => `<Coordinate Order="${k}" X="${x}" Y="${y}" />`).join('')
  writeFileSync(
    join(annotations, 'tumor_c.xml'),
    `<?xml version="1.0"?><ASAP_Annotations><Annotations>${c
      .map(
        (r, k) =>
          `<Annotation Name="A${k}" Type="Polygon" PartOfGroup="_0"><Coordinates>${coordinates(r.outer)}</Coordinates></Annotation>`,
      )
      .join('')}</Annotations></ASAP_Annotations>`,
  )
  predicted('tumor_c.tif', 1, c, [[3650, 3040, 0.55]])
  // Normal slides: annotated normal only, labelled by CSV, and an empty annotation file.
  const normal: Region[] = [{ kind: 'normal', outer: rect(100, 100, 5000, 5000), holes: [] }]
  writeFileSync(join(annotations, 'normal_1.geojson'), geojson(normal))
  predicted('normal_1.tif', 0, [], [])
  predicted('normal_2.tif', 0, [], [])
  writeFileSync(
    join(annotations, 'normal_3.geojson'),
    '{"type": "FeatureCollection", "features": []}',
  )
  predicted('normal_3.tif', 0, [], [])
  const labels = join(root, 'labels.csv')
  writeFileSync(labels, 'slide,label\nnormal_2.tif,0\n')

  it('matches an independent FROC, lesion count and slide AUC on the same detections', (t) => {
    const r = spawnSync(
      process.execPath,
      [BIN, 'slide', 'eval', maps, '--annotations', annotations, '--labels', labels, '--json'],
      { encoding: 'utf8' },
    )
    assert.equal(r.status, 0, r.stderr)
    const ours = JSON.parse(r.stdout)
    const reference = spawnSync(torchPython(), [REFERENCE], {
      input: JSON.stringify({
        slides: slides.map((s) => ({
          ...s,
          width: WIDTH,
          height: HEIGHT,
          mpp: MPP,
          downsample: 32,
          score: s.detections.length ? Math.max(...s.detections.map((d) => d[2]!)) : 0,
        })),
      }),
      encoding: 'utf8',
    })
    assert.equal(reference.status, 0, reference.stderr)
    const theirs = JSON.parse(reference.stdout)
    t.diagnostic(
      `pcam ${JSON.stringify(ours.sensitivity_at)} FROC ${ours.froc}; reference ${reference.stdout}`,
    )
    assert.equal(ours.slides, 6)
    assert.equal(ours.positive_slides, 3)
    assert.equal(ours.lesions, theirs.lesions)
    assert.equal(ours.itc_lesions, theirs.itc_lesions)
    assert.ok(ours.itc_lesions >= 2, 'the small squares are isolated tumour cells')
    for (const [rate, value] of Object.entries(theirs.sensitivity_at))
      assert.ok(
        Math.abs(ours.sensitivity_at[rate] - (value as number)) < 1e-9,
        `at ${rate}: ${ours.sensitivity_at[rate]} vs ${value}`,
      )
    assert.ok(Math.abs(ours.froc - theirs.froc) < 1e-9, `${ours.froc} vs ${theirs.froc}`)
    assert.ok(Math.abs(ours.slide_auc - theirs.slide_auc) < 1e-12)
    assert.ok(ours.slide_auc_low <= ours.slide_auc && ours.slide_auc <= ours.slide_auc_high)
    for (const file of ['slides-eval.csv', 'froc.svg', 'froc.png', 'slide-roc.svg'])
      assert.ok(existsSync(join(maps, file)), file)
  })

  it('names each slide it cannot judge, one line each', () => {
    const r = spawnSync(
      process.execPath,
      [BIN, 'slide', 'eval', maps, '--annotations', annotations],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(r.status, 1)
    assert.match(
      r.stderr,
      /normal_2\.tif: no annotations .* and no --labels row: it cannot be judged/,
    )
  })
})
