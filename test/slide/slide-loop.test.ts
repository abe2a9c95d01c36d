// The whole-slide loop end to end, as the README shows it, on mosaic slides of real patches with
// GeoJSON and ASAP annotations: a store from annotated slides, a short training, prediction on
// other slides, their evaluation, and a second store with the first round's hard negatives.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { PatchStore } from '../../src/data/store.js'
import { enlargedMosaic, makeMosaic, PATCH } from '../helpers/mosaic.js'
import { skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

const BIN = fileURLToPath(new URL('../../../bin/pcam.js', import.meta.url))
function pcam(...args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' })
  assert.equal(r.status, 0, `pcam ${args.join(' ')}\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/** A tumour rectangle (in cells) as QuPath GeoJSON, or as ASAP XML. */
function geojson(region: number[], scale = 1): string {
  const [x0, y0, x1, y1] = region.map((v) => v * PATCH * scale) as [number, number, number, number]
  return JSON.stringify({
    type: 'FeatureCollection',
    features: [
      {
        type: 'Feature',
        geometry: {
          type: 'Polygon',
          coordinates: [
            [
              [x0, y0],
              [x1, y0],
              [x1, y1],
              [x0, y1],
              [x0, y0],
            ],
          ],
        },
        properties: { objectType: 'annotation', classification: { name: 'Tumor' } },
      },
    ],
  })
}
function asap(region: number[], scale = 1): string {
  const [x0, y0, x1, y1] = region.map((v) => v * PATCH * scale) as [number, number, number, number]
  const points = [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
  ]
  const coordinates = points
    .map(([x, y], k) => `<Coordinate Order="${k}" X="${x}" Y="${y}" />`)
    .join('')
  return `<?xml version="1.0"?><ASAP_Annotations><Annotations><Annotation Name="A" Type="Polygon" PartOfGroup="_0"><Coordinates>${coordinates}</Coordinates></Annotation></Annotations></ASAP_Annotations>`
}

describe('the whole-slide loop', { skip: skipWithoutData }, () => {
  const root = tempDir('slide-loop')
  const dirs = {
    train: join(root, 'slides'),
    trainAnnotations: join(root, 'annotations'),
    test: join(root, 'test-slides'),
    testAnnotations: join(root, 'test-annotations'),
  }
  before(async () => {
    for (const dir of Object.values(dirs)) mkdirSync(dir)
    // Training slides: four with tumour (two annotated in each format), one normal.
    const regions = [
      [1, 1, 5, 4],
      [0, 2, 3, 5],
      [3, 0, 6, 3],
      [2, 2, 6, 5],
    ]
    for (const [k, region] of regions.entries()) {
      const at = join(dirs.train, `train_${k}.tif`)
      const cells = region as [number, number, number, number]
      // train_0 is a 40x-like scan at 0.243 µm/px: its patches come from its level at 0.972.
      const mosaic = await makeMosaic(k === 0 ? join(root, 'train_0-10x.tif') : at, 7, 6, cells, {
        offset: k * 40,
      })
      if (k === 0) await enlargedMosaic(mosaic, at, 4)
      const scale = k === 0 ? 4 : 1
      const [name, text] =
        k % 2
          ? [`train_${k}.xml`, asap(region, scale)]
          : [`train_${k}.geojson`, geojson(region, scale)]
      writeFileSync(join(dirs.trainAnnotations, name), text)
    }
    await makeMosaic(join(dirs.train, 'normal_0.tif'), 7, 6, [0, 0, 0, 0], { offset: 200 })
    writeFileSync(join(root, 'labels.csv'), 'slide,label\nnormal_0.tif,0\n')
    // Test slides, from other patches: two with tumour, two normal.
    for (const [k, region] of [
      [1, 1, 4, 4],
      [2, 1, 5, 3],
    ].entries()) {
      await makeMosaic(
        join(dirs.test, `test_${k}.tif`),
        6,
        5,
        region as [number, number, number, number],
        { offset: 400 + k * 40 },
      )
      writeFileSync(join(dirs.testAnnotations, `test_${k}.geojson`), geojson(region))
    }
    for (const k of [0, 1]) {
      await makeMosaic(join(dirs.test, `normal_${k}.tif`), 6, 5, [0, 0, 0, 0], {
        offset: 500 + k * 40,
      })
      writeFileSync(join(dirs.testAnnotations, `normal_${k}.geojson`), '[]')
    }
  })

  it('prepares, trains, predicts, evaluates, and mines hard negatives for a second round', (t) => {
    // pcam data prepare on the annotated training slides, with what else is given.
    const prepare = (...args: string[]) =>
      pcam(
        'data',
        'prepare',
        dirs.train,
        '--annotations',
        dirs.trainAnnotations,
        '--labels',
        join(root, 'labels.csv'),
        ...args,
      )
    const store = join(root, 'store')
    prepare('--out', store)
    const run = join(root, 'run')
    pcam(
      'train',
      '--data',
      store,
      '--arch',
      'small',
      '--epochs',
      '3',
      '--batch-size',
      '32',
      '--out',
      run,
      '--no-tensorboard',
    )
    const maps = join(root, 'maps')
    pcam('slide', 'predict', '--model', run, dirs.test, '--out', maps)
    const figures = JSON.parse(
      pcam('slide', 'eval', maps, '--annotations', dirs.testAnnotations, '--json'),
    )
    t.diagnostic(JSON.stringify({ ...figures, perSlide: undefined, files: undefined }))
    assert.equal(figures.slides, 4)
    assert.equal(figures.positive_slides, 2)
    assert.equal(figures.lesions + figures.itc_lesions, 2)
    for (const key of ['slide_auc', 'froc', 'accuracy', 'sensitivity', 'specificity'])
      assert.ok(figures[key] >= 0 && figures[key] <= 1, `${key} ${figures[key]}`)
    assert.deepEqual(Object.keys(figures.sensitivity_at).sort(), [
      '0.25',
      '0.5',
      '1',
      '2',
      '4',
      '8',
    ])
    assert.ok(existsSync(join(maps, 'froc.svg')) && existsSync(join(maps, 'slides-eval.csv')))
    // The run's report gets a whole-slide section: figures, charts, and each slide's overlay.
    pcam('report', run, '--slides', maps)
    const html = readFileSync(join(run, 'report.html'), 'utf8')
    assert.match(html, /<h2 id="s\d+">Whole slides: maps<\/h2>/)
    assert.match(html, /4 slides \(2 with tumour\), 2 lesions/)
    assert.equal((html.match(/alt="[^"]+ overlay"/g) ?? []).length, 4, 'one overlay per slide')
    assert.match(html, /alt="froc\.svg"/)
    // Round two: the first round's predictions on the training slides give hard negatives.
    const trainMaps = join(root, 'maps-train')
    pcam('slide', 'predict', '--model', run, dirs.train, '--out', trainMaps)
    const second = join(root, 'store-2')
    prepare('--out', second, '--per-slide', '6', '--hard-negatives', trainMaps)
    const first = PatchStore.open(store)
    const again = PatchStore.open(second)
    try {
      assert.ok(first.count > again.count, 'the second store is capped at 6 per slide and class')
      const summary = JSON.parse(readFileSync(join(trainMaps, 'train_0', 'summary.json'), 'utf8'))
      assert.ok(summary.threshold > 0)
      assert.ok(again.meta.ids.every((id) => /^(train_\d|normal_0)_\d+_\d+$/.test(id)))
      // The 40x-like slide gave patches, at its own level-0 coordinates (4x the mosaic's).
      const fortyX = first.meta.ids.filter((id) => id.startsWith('train_0_'))
      assert.ok(fortyX.length > 0)
      assert.ok(
        fortyX.every((id) =>
          id
            .split('_')
            .slice(2)
            .every((v) => Number(v) % (PATCH * 4) === 0),
        ),
      )
    } finally {
      first.dispose()
      again.dispose()
    }
  })
})
