// pcam eval's artefacts and pcam report's HTML on a small trained run; the report opened in
// headless Chromium: every image loads, nothing is fetched from the network, no console error.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, it } from 'node:test'
import sharp from 'sharp'
import { evaluateToFolder } from '../../src/eval/artifacts.js'
import { writeReport } from '../../src/eval/report.js'
import { train } from '../../src/recipe/train.js'
import { ARTIFACTS, launchBrowser, watchPage } from '../helpers/browser.js'
import { makeSyntheticStore, syntheticTrainConfig } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('report')
const run = join(root, 'run')
let store = ''

before(async () => {
  store = await makeSyntheticStore(root)
  await train({ ...syntheticTrainConfig(store, run), lr: 'auto' })
})

describe('eval artefacts', () => {
  it('writes metrics, predictions, four charts (SVG and PNG) and the top losses', async () => {
    const { result, dir, files } = await evaluateToFolder({
      run,
      store,
      split: 'valid',
      tta: true,
      threshold: null,
      topLosses: 6,
    })
    assert.equal(dir, join(run, 'eval', 'valid-tta'))
    for (const name of ['roc', 'pr', 'confusion', 'calibration']) {
      assert.ok(files.includes(join(dir, `${name}.svg`)), name)
      assert.match(readFileSync(join(dir, `${name}.svg`), 'utf8'), /^<svg[^>]*>.*<\/svg>$/s)
      const png = await sharp(join(dir, `${name}.png`)).metadata()
      assert.ok(png.width! > 300 && png.height! > 300, `${name}.png ${png.width}x${png.height}`)
    }
    const metrics = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'))
    assert.equal(metrics.rocAuc, result.evaluation.rocAuc)
    assert.equal(metrics.tta, true)
    const wrong = result.evaluation.fp + result.evaluation.fn
    assert.equal(
      metrics.mostConfused.reduce((n: number, m: { count: number }) => n + m.count, 0),
      wrong,
    )
    const rows = readFileSync(join(dir, 'predictions.csv'), 'utf8').trim().split('\n')
    assert.equal(rows[0], 'id,label,probability')
    assert.equal(rows.length, 33)
    // Six tiles of (patch | overlay), 16px patches drawn 96px high, four to a row: two rows.
    const grid = await sharp(join(dir, 'top-losses.png')).metadata()
    assert.equal(grid.width, 4 * (2 * 96 + 8))
    assert.ok(grid.height! > 2 * (96 + 8) && grid.height! < 3 * (96 + 8))
  })

  it('the ROC chart shows the AUC it was given', async () => {
    const svg = readFileSync(join(run, 'eval', 'valid-tta', 'roc.svg'), 'utf8')
    const metrics = JSON.parse(readFileSync(join(run, 'eval', 'valid-tta', 'metrics.json'), 'utf8'))
    assert.ok(svg.includes(`AUC ${metrics.rocAuc.toFixed(3)}`))
  })
})

describe('report', () => {
  let html = ''
  let path = ''
  before(async () => {
    path = await writeReport(run)
    html = readFileSync(path, 'utf8')
  })

  it('holds the evaluation, training, LR finder, data and configuration sections', () => {
    for (const heading of [
      'Caveats',
      'Evaluation',
      'Training',
      'Learning-rate finder',
      'Data',
      'Configuration',
    ])
      assert.match(html, new RegExp(`<h2 id="s\\d+">${heading}</h2>`), heading)
    // A table of contents, the date, and the saved epoch marked among the epochs of the whole run.
    assert.match(html, /<nav class="toc"><a href="#s1">Caveats<\/a>/)
    assert.match(html, /Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC/)
    assert.equal((html.match(/best valid AUC/g) ?? []).length, 1)
    // Class names as people read them, the same everywhere, with the top losses' border key.
    assert.match(html, /classes 0 normal, 1 tumour;/)
    assert.match(html, /<span class="swatch" style="border-color: #0072B2">0 normal<\/span>/)
    assert.ok(html.includes('The source&#39;s own split was kept'), 'the split caveat')
    assert.ok(!/(src|href)="https?:/.test(html), 'nothing from the network')
    // A report is made to be shared: the store by name, never this machine's folders.
    assert.ok(!html.includes(root), 'the report shows a path of this machine')
    assert.ok(html.includes(basename(store)), 'the store is named')
  })

  it('opens in headless Chromium with every image loaded and no console errors', async () => {
    const browser = await launchBrowser()
    after(() => browser.close())
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
    const problems = watchPage(page, ['file:', 'data:'])
    await page.goto(pathToFileURL(path).href)
    const images = (await page.evaluate(
      '[...document.images].map((i) => ({ alt: i.alt, ok: i.complete && i.naturalWidth > 0 }))',
    )) as { alt: string; ok: boolean }[]
    assert.ok(images.length >= 7, `${images.length} images`) // 4 charts, top losses, training, LR
    for (const image of images) assert.ok(image.ok, `image did not load: ${image.alt}`)
    assert.deepEqual(problems, [])
    const shot = join(ARTIFACTS, 'report.png')
    await page.screenshot({ path: shot, fullPage: true })
    assert.ok(existsSync(shot))
  })
})
