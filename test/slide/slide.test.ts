// Whole slides end to end: pixels equal OpenSlide's own tool on the real Aperio slide; on a mosaic
// of real patches the slide path reproduces pcam predict tile by tile and its GeoJSON covers the
// known tumour region; every bad input gets one clear line naming the file, and nothing half
// written is left behind.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { basename, extname, join } from 'node:path'
import { before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { readCsv } from '../../src/data/csv.js'
import { predictFiles } from '../../src/eval/predict-files.js'
import { inside } from '../../src/slide/geojson.js'
import { OpenSlide } from '../../src/torch/openslide.js'
import { makeMosaic, PATCH, type Mosaic } from '../helpers/mosaic.js'
import { trainRealRun } from '../helpers/real-run.js'
import { SHARED_DATA, skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

const BIN = fileURLToPath(new URL('../../../bin/pcam.js', import.meta.url))
const pcam = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' })
const SVS = join(SHARED_DATA, 'slides', 'CMU-1-Small-Region.svs')
const hasTool = spawnSync('openslide-write-png', ['--help']).error === undefined
const skip = skipWithoutData || (existsSync(SVS) ? false : `${SVS} not found`)

const root = tempDir('slide')
let run = ''
let mosaic: Mosaic
// pcam slide predict --model <run> <args...>
const slidePredict = (...args: string[]) => pcam('slide', 'predict', '--model', run, ...args)

type Row = { x: number; y: number; width: number; height: number; probability: number }
function tilesCsv(dir: string): Row[] {
  const { rows } = readCsv(readFileSync(join(dir, 'tiles.csv'), 'utf8'), 'tiles.csv')
  return rows.map(({ fields }) => {
    const [x, y, width, height, probability] = fields.map(Number) as number[]
    return { x: x!, y: y!, width: width!, height: height!, probability: probability! }
  })
}

describe('whole slides', { skip }, () => {
  before(async () => {
    // A small run on real patches (not the mosaic's), with its µm/px recorded by prepare --mpp.
    run = await trainRealRun(root, 120)
    mosaic = await makeMosaic(join(root, 'mosaic.tif'), 8, 6, [2, 1, 6, 4])
  })

  it(
    'reads regions with the very pixels openslide-write-png writes, outside the slide white',
    {
      skip: hasTool ? false : 'openslide-write-png (Debian openslide-tools) not installed',
    },
    async () => {
      using slide = await OpenSlide.open(SVS)
      for (const [x, y, w, h] of [
        [1000, 1200, 300, 200],
        [2100, 2900, 200, 100],
      ] as const) {
        const png = join(root, `ref-${x}.png`)
        const tool = spawnSync('openslide-write-png', [
          SVS,
          String(x),
          String(y),
          '0',
          String(w),
          String(h),
          png,
        ])
        assert.equal(tool.status, 0, tool.stderr?.toString())
        const expected = await sharp(png).flatten({ background: '#ffffff' }).raw().toBuffer()
        const region = await slide.readRegion(x, y, 0, w, h)
        assert.deepEqual(region.shape, [h, w, 3])
        assert.ok(
          Buffer.from(region.data() as Uint8Array).equals(expected),
          `region ${x},${y} differs`,
        )
        region.dispose()
      }
    },
  )

  it('slide info gives the vendor, levels, µm/px and objective power', () => {
    const out = pcam('slide', 'info', SVS, '--json')
    assert.equal(out.status, 0, out.stderr)
    const info = JSON.parse(out.stdout)
    assert.equal(info.vendor, 'aperio')
    assert.deepEqual(info.levels, [{ width: 2220, height: 2967, downsample: 1 }])
    assert.equal(info.mpp.x, 0.499)
    assert.equal(info.objectivePower, 20)
    assert.ok(info.associatedImages.some((a: { name: string }) => a.name === 'thumbnail'))
  })

  it("reproduces pcam predict's probabilities tile by tile on a mosaic, with either engine", async () => {
    const out = join(root, 'out-parity')
    for (const engine of ['libtorch', 'onnxruntime']) {
      const dir = engine === 'onnxruntime' ? out : `${out}-${engine}`
      const r = slidePredict(
        mosaic.path,
        '--out',
        dir,
        '--no-tissue-mask',
        '--json',
        '--engine',
        engine,
      )
      assert.equal(r.status, 0, r.stderr)
    }
    const libtorchRows = tilesCsv(join(`${out}-libtorch`, 'mosaic'))
    const { predictions } = await predictFiles({ run, sources: mosaic.files, tta: false })
    const byId = new Map(predictions.map((p) => [p.id, p.probability]))
    const rows = tilesCsv(join(out, 'mosaic'))
    assert.equal(rows.length, mosaic.cols * mosaic.rows)
    rows.forEach((row, k) =>
      assert.ok(Math.abs(row.probability - libtorchRows[k]!.probability) <= 1e-4, 'engines agree'),
    )
    for (const row of rows) {
      assert.equal(row.width, PATCH)
      const file = mosaic.files[(row.y / PATCH) * mosaic.cols + row.x / PATCH] as string
      const expected = byId.get(basename(file, extname(file)))
      assert.ok(expected !== undefined, `no prediction for ${file}`)
      assert.ok(
        Math.abs(row.probability - expected) <= 1e-4,
        `${row.x},${row.y}: ${row.probability} vs ${expected}`,
      )
    }
    const summary = JSON.parse(readFileSync(join(out, 'mosaic', 'summary.json'), 'utf8'))
    assert.equal(summary.level, 0)
    assert.equal(summary.resampled, false)
    assert.ok(Math.abs(summary.mpp - 0.972) < 1e-4)
    assert.ok(Math.abs(summary.score.max - Math.max(...rows.map((t) => t.probability))) < 1e-6)
    const heatmap = await sharp(join(out, 'mosaic', 'heatmap.png')).metadata()
    assert.deepEqual([heatmap.width, heatmap.height], [mosaic.cols, mosaic.rows])
    assert.ok(existsSync(join(out, 'mosaic', 'overlay.png')))
    assert.ok(readFileSync(join(out, 'slides.csv'), 'utf8').includes(mosaic.path))
  })

  it('writes QuPath tile objects and NMS detections, and skips a slide whose output is complete', () => {
    const dir = join(root, 'out-parity', 'mosaic')
    const rows = tilesCsv(dir)
    const tiles = JSON.parse(readFileSync(join(dir, 'tiles.geojson'), 'utf8'))
    assert.equal(tiles.features.length, rows.length)
    tiles.features.forEach(
      (
        f: {
          geometry: { coordinates: number[][][] }
          properties: { objectType: string; measurements: Record<string, number> }
        },
        k: number,
      ) => {
        assert.equal(f.properties.objectType, 'tile')
        assert.equal(f.properties.measurements['Tumor probability'], rows[k]!.probability)
        assert.deepEqual(f.geometry.coordinates[0]![0], [rows[k]!.x, rows[k]!.y])
      },
    )
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'))
    const { rows: found } = readCsv(
      readFileSync(join(dir, 'detections.csv'), 'utf8'),
      'detections.csv',
    )
    const detections = found.map(({ fields }) => fields.map(Number) as [number, number, number])
    assert.equal(detections.length, summary.detections)
    assert.ok(detections.length > 0)
    assert.ok(Math.abs(detections[0]![2] - summary.score.max) < 1e-6, 'the first is the maximum')
    const radius = summary.nmsRadiusUm / summary.mpp
    for (const [i, a] of detections.entries()) {
      assert.ok(a[2] >= 0.1)
      for (const b of detections.slice(i + 1))
        assert.ok(Math.hypot(a[0] - b[0], a[1] - b[1]) > radius, `${a} and ${b} within the radius`)
    }
    // Again into the same folder: skipped, untouched; --overwrite predicts it again.
    const before = statSync(join(dir, 'summary.json')).mtimeMs
    const again = slidePredict(mosaic.path, '--out', join(root, 'out-parity'), '--no-tissue-mask')
    assert.equal(again.status, 0, again.stderr)
    assert.match(again.stdout, /mosaic\.tif: skipped, its complete output is in/)
    assert.equal(statSync(join(dir, 'summary.json')).mtimeMs, before)
    const redo = slidePredict(
      mosaic.path,
      '--out',
      join(root, 'out-parity'),
      '--no-tissue-mask',
      '--overwrite',
    )
    assert.equal(redo.status, 0, redo.stderr)
    assert.ok(statSync(join(dir, 'summary.json')).mtimeMs > before)
  })

  it('refuses --bf16 with ONNX Runtime instead of ignoring it', () => {
    const out = join(root, 'out-bf16')
    const r = slidePredict(mosaic.path, '--out', out, '--bf16', '--engine', 'onnxruntime')
    assert.equal(r.status, 1)
    assert.match(r.stderr, /--precision bf16 is libtorch mixed precision.*--engine libtorch/)
  })

  it('never deletes a partial folder it did not write, and leaves no marker in a result', () => {
    const out = join(root, 'out-foreign-partial')
    mkdirSync(join(out, 'mosaic.partial'), { recursive: true })
    writeFileSync(join(out, 'mosaic.partial', 'mine.txt'), 'a user file')
    const r = slidePredict(mosaic.path, '--out', out, '--no-tissue-mask')
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /mosaic\.partial exists but was not left by "pcam slide predict"/)
    assert.equal(readFileSync(join(out, 'mosaic.partial', 'mine.txt'), 'utf8'), 'a user file')
    assert.ok(!existsSync(join(root, 'out-parity', 'mosaic', '.pcam-partial')))
  })

  it('writes a GeoJSON that covers the known tumour region', () => {
    const out = join(root, 'out-parity')
    const rows = tilesCsv(join(out, 'mosaic'))
    const at = (row: Row) => (row.y / PATCH) * mosaic.cols + row.x / PATCH
    const tumourRows = rows.filter((r) => mosaic.tumour[at(r)])
    // The lowest tumour probability as threshold: every tumour tile is then above it.
    // tiles.csv rounds to 6 decimals, hence the margin.
    const threshold = Math.min(...tumourRows.map((r) => r.probability)) - 1e-6
    const again = join(root, 'out-geo')
    const r = slidePredict(
      mosaic.path,
      '--out',
      again,
      '--no-tissue-mask',
      '--threshold',
      String(threshold),
    )
    assert.equal(r.status, 0, r.stderr)
    const geo = JSON.parse(readFileSync(join(again, 'mosaic', 'tumour.geojson'), 'utf8'))
    assert.equal(geo.type, 'FeatureCollection')
    const covered = (p: number[]) =>
      geo.features.some(
        (f: { geometry: { coordinates: number[][][] } }) =>
          inside(p, f.geometry.coordinates[0]!) &&
          !f.geometry.coordinates.slice(1).some((h) => inside(p, h)),
      )
    for (const t of tumourRows)
      assert.ok(
        covered([t.x + PATCH / 2, t.y + PATCH / 2]),
        `tumour tile ${t.x},${t.y} not covered`,
      )
    for (const t of rows.filter((row) => row.probability < threshold - 1e-6))
      assert.ok(
        !covered([t.x + PATCH / 2, t.y + PATCH / 2]),
        `tile ${t.x},${t.y} below threshold covered`,
      )
  })

  it('finds tissue on the real slide and resamples it to the model µm/px', () => {
    const out = join(root, 'out-svs')
    const r = slidePredict(SVS, '--out', out, '--json')
    assert.equal(r.status, 0, r.stderr)
    const summary = JSON.parse(r.stdout.trim().split('\n')[0] as string)
    assert.equal(summary.resampled, true)
    assert.ok(Math.abs(summary.tileSize - (96 * 0.972) / 0.499) < 1e-6)
    assert.ok(
      summary.tissueTiles > 0 && summary.tissueTiles < summary.tiles,
      JSON.stringify(summary),
    )
    assert.equal(tilesCsv(join(out, 'CMU-1-Small-Region')).length, summary.tissueTiles)
    assert.ok(existsSync(join(out, 'CMU-1-Small-Region', 'tissue.png')))
  })

  it('gives each bad slide one line naming it, goes on, and leaves nothing half written', async () => {
    const bad = join(root, 'bad')
    mkdirSync(bad)
    const notSlide = join(bad, 'notes.svs')
    writeFileSync(notSlide, 'not a slide\n')
    const truncated = join(bad, 'truncated.svs')
    writeFileSync(truncated, readFileSync(SVS).subarray(0, 300_000))
    const noRes = (await makeMosaic(join(bad, 'nores.tif'), 2, 2, [0, 0, 1, 1], { mppUm: null }))
      .path
    const tiny = join(bad, 'tiny.tif')
    await sharp({ create: { width: 80, height: 80, channels: 3, background: '#a05080' } })
      .tiff({ tile: true, xres: 1000 / 0.972, yres: 1000 / 0.972, resolutionUnit: 'cm' })
      .toFile(tiny)
    const blank = join(bad, 'blank.tif')
    await sharp({ create: { width: 600, height: 600, channels: 3, background: '#f4f4f4' } })
      .tiff({ tile: true, xres: 1000 / 0.972, yres: 1000 / 0.972, resolutionUnit: 'cm' })
      .toFile(blank)
    const out = join(root, 'out-bad')
    const r = slidePredict(notSlide, truncated, noRes, tiny, blank, mosaic.path, '--out', out)
    assert.equal(r.status, 1, r.stdout + r.stderr)
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('pcam: '))
    for (const file of [notSlide, truncated, noRes, tiny])
      assert.ok(
        lines.some((l) => l.includes(file)),
        `no line names ${file}:\n${r.stderr}`,
      )
    assert.match(r.stderr, /nores\.tif.*--slide-mpp/)
    assert.match(r.stderr, /tiny\.tif.*smaller than one tile/)
    assert.match(r.stderr, /4 of 6 slide\(s\) failed/)
    // The good slides were predicted; the bad ones left nothing (no folder, no partial).
    assert.deepEqual(readdirSync(out).sort(), ['blank', 'mosaic', 'slides.csv'])
    const blankSummary = JSON.parse(readFileSync(join(out, 'blank', 'summary.json'), 'utf8'))
    assert.equal(blankSummary.tissueTiles, 0)
    assert.match(blankSummary.note, /no tissue/)
    assert.match(r.stdout, /blank\.tif: 0\//)
    const csv = readFileSync(join(out, 'slides.csv'), 'utf8')
    assert.equal(csv.split('\n').filter((l) => l.includes(',failed,')).length, 4)

    const skipped = slidePredict(noRes, blank, '--out', join(root, 'out-skip'), '--skip-bad')
    assert.equal(skipped.status, 0, skipped.stderr)
    assert.match(skipped.stderr, /Skipped 1 bad slide/)
    const given = slidePredict(noRes, '--slide-mpp', '0.972', '--out', join(root, 'out-mpp'))
    assert.equal(given.status, 0, given.stderr)
  })

  it('refuses up front a stride or tile count past its bounds, and two slides with one output', () => {
    const stride = slidePredict(mosaic.path, '--stride', '1', '--out', join(root, 'out-stride'))
    assert.notEqual(stride.status, 0)
    assert.match(stride.stderr, /stride .* in 12\.\.768 .* received 1/)
    assert.ok(!existsSync(join(root, 'out-stride')), 'a refused run wrote its output folder')
    const many = slidePredict(mosaic.path, '--max-tiles', '10', '--out', join(root, 'out-many'))
    assert.equal(many.status, 1)
    assert.match(many.stderr, /mosaic\.tif would be cut into 48 tiles \(8 x 6\), more than the 10/)
    // a.svs and a.tif would both write <out>/a: refused before either is predicted.
    const dup = join(root, 'dup')
    mkdirSync(dup)
    writeFileSync(join(dup, 'a.svs'), readFileSync(mosaic.path))
    writeFileSync(join(dup, 'a.tif'), readFileSync(mosaic.path))
    const both = slidePredict(dup, '--out', join(root, 'out-dup'))
    assert.notEqual(both.status, 0)
    assert.match(both.stderr, /a\.svs and .*a\.tif would both write their results to .*out-dup\/a/)
    assert.ok(!existsSync(join(root, 'out-dup', 'a')))
  })
})
