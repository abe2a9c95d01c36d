// The slide viewer of pcam serve --slides: names only (anything else is a 404), Deep Zoom tiles,
// and in headless Chromium a mosaic slide opened in OpenSeadragon, predicted through the model
// worker with visible progress, shown as a heatmap with contours, and a clicked tile's probability
// equal to the slide prediction's; a screenshot is kept in test-artifacts/.
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import sharp from 'sharp'
import { createServer, type PcamServer } from '../../src/serve/server.js'
import { ARTIFACTS, launchBrowser, watchPage } from '../helpers/browser.js'
import { makeMosaic, PATCH } from '../helpers/mosaic.js'
import { trainRealRun } from '../helpers/real-run.js'
import { skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('slides')

describe('slide viewer', { skip: skipWithoutData }, () => {
  let server: PcamServer
  let browser: Browser
  let page: Page
  let address = ''

  before(async () => {
    const run = await trainRealRun(root, 100)
    mkdirSync(join(root, 'slides'))
    await makeMosaic(join(root, 'slides', 'mosaic.tif'), 6, 4, [1, 1, 4, 3])
    // A slide scanned coarser than the model's patches (2 µm/px against 0.972): the viewer cautions.
    await makeMosaic(join(root, 'slides', 'z-coarse.tif'), 2, 2, [0, 0, 0, 0], { mppUm: 2 })
    server = await createServer({ run, slides: join(root, 'slides') })
    address = await server.app.listen({ host: '127.0.0.1', port: 0 })
    browser = await launchBrowser()
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
  })
  after(async () => {
    await browser?.close()
    await server?.close()
  })

  it('lists slides by name only; other names and paths are 404', async () => {
    const list = await server.app.inject({ url: '/api/slides' })
    assert.deepEqual(
      list.json().slides.map((s: { name: string }) => s.name),
      ['mosaic.tif', 'z-coarse.tif'],
    )
    for (const url of [
      '/api/slides/other.tif',
      '/api/slides/..%2Fstore%2Fmeta.json',
      '/api/slides/%2Fetc%2Fpasswd/dz/0/0_0.jpeg',
    ]) {
      const r = await server.app.inject({ url })
      assert.equal(r.statusCode, 404, `${url}: ${r.body}`)
    }
  })

  it('serves Deep Zoom tiles at full resolution and downsampled', async () => {
    const info = (await server.app.inject({ url: '/api/slides/mosaic.tif' })).json()
    assert.equal(info.deepZoom.width, 6 * PATCH)
    // The slide's facts come with the cautions they call for: none at the model's own scale.
    assert.deepEqual(info.cautions, [])
    const coarse = (await server.app.inject({ url: '/api/slides/z-coarse.tif' })).json()
    assert.equal(coarse.mpp, 2)
    assert.equal(coarse.cautions.length, 1)
    const max = info.deepZoom.maxLevel
    assert.equal(max, Math.ceil(Math.log2(6 * PATCH)))
    for (const [level, w, h] of [
      [max, 256, 256],
      [max - 1, 256, 192],
      [max - 2, 144, 96],
    ] as const) {
      const r = await server.app.inject({ url: `/api/slides/mosaic.tif/dz/${level}/0_0.jpeg` })
      assert.equal(r.statusCode, 200, r.body)
      const meta = await sharp(r.rawPayload).metadata()
      assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', w, h])
    }
    const outside = await server.app.inject({ url: `/api/slides/mosaic.tif/dz/${max}/9_9.jpeg` })
    assert.equal(outside.statusCode, 400)
    // Parameters and query strings are checked by their schemas before any handler runs.
    for (const [url, field] of [
      ['/api/slides/mosaic.tif/dz/top/0_0.jpeg', /params\/level must be integer/],
      ['/api/slides/mosaic.tif/dz/0/0-0.png', /params\/tile must match pattern/],
      ['/api/slides/mosaic.tif/tile?x=left&y=0', /querystring\/x must be number/],
      ['/api/slides/mosaic.tif/tile?x=0', /querystring must have required property 'y'/],
    ] as const) {
      const r = await server.app.inject({ url })
      assert.equal(r.statusCode, 400, `${url}: ${r.body}`)
      assert.match(r.json().error, field, url)
    }
  })

  it('predicts in the browser with progress, shows heatmap and contours, explains a clicked tile', async () => {
    const problems = watchPage(page, [address, 'data:', 'blob:'])
    // The patch page links the viewer, and the viewer the patch page.
    await page.goto(address)
    await page.getByRole('link', { name: 'Whole slides' }).click()
    await page.waitForURL(`${address}/slides`)
    await page.locator('#viewer canvas').first().waitFor()
    await page.getByText('Not predicted yet').waitFor()
    // Before prediction the slider stands at the run's threshold; a colour legend is shown.
    const own = (await server.app.inject({ url: '/api/model' })).json().threshold
    // (to the slider's step of 0.001)
    assert.ok(Math.abs(Number(await page.locator('#threshold').inputValue()) - own) <= 5e-4)
    assert.ok(await page.locator('#legend-bar').isVisible())
    // Zoom, home and full-page buttons (their images served: no console error below), and the
    // scale bar with the magnification at the slide's µm/px.
    for (const title of ['Zoom in', 'Zoom out', 'Go home', 'Toggle full page'])
      assert.equal(await page.locator(`[title="${title}"]`).count(), 1, title)
    await page.locator('#scale-label', { hasText: /\d+ (µm|mm) · ≈[\d.]+x/ }).waitFor()
    await page.locator('#predict').click()
    await page.getByText(/tiles predicted/).waitFor({ timeout: 60_000 })
    // The slide-level answer, and the result's files to download.
    await page.getByText(/slide score \(highest tile\) [\d.]+/).waitFor()
    assert.equal(await page.locator('#downloads a').count(), 5)
    // The lesion candidates: numbered markers on the slide, and a list that zooms to each.
    const detections = (await server.app.inject({ url: '/api/slides/mosaic.tif/result' })).json()
      .detections
    const listed = Math.min(10, detections.length)
    assert.ok(listed > 0)
    assert.equal(await page.locator('#lesions li').count(), listed)
    assert.equal(await page.locator('.detection').count(), listed)
    await page.locator('#lesions button').first().click()
    const href = await page.locator('#downloads a').first().getAttribute('href')
    assert.equal((await server.app.inject({ url: href! })).statusCode, 200)
    const result = (await server.app.inject({ url: '/api/slides/mosaic.tif/result' })).json()
    assert.equal(result.grid.cols, 6)
    assert.equal(await page.locator('#heat').getAttribute('width'), '6')
    // Every predicted cell is drawn: those over the threshold opaque, the others faint.
    const alphas = (await page.evaluate(`(() => {
      const c = document.getElementById('heat')
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
      return [...d].filter((_, i) => i % 4 === 3)
    })()`)) as number[]
    const cut = Number(await page.locator('#threshold').inputValue())
    const over = result.cells.filter((p: number | null) => p !== null && p >= cut).length
    assert.equal(alphas.filter((a) => a === 255).length, over)
    const under = result.cells.filter((p: number | null) => p !== null && p < cut).length
    assert.ok(under > 0)
    assert.equal(alphas.filter((a) => a > 0 && a < 255).length, under)
    assert.ok((await page.locator('#outline path').count()) >= 0)
    // The contours follow the threshold slider.
    await page.locator('#threshold').fill('0.99')
    await page.waitForFunction('document.querySelectorAll("#outline path").length === 0')
    await page.locator('#threshold').fill('0')
    await page.waitForFunction('document.querySelectorAll("#outline path").length > 0')
    await page.locator('#opacity').fill('0.8')
    assert.equal(await page.evaluate('document.getElementById("heat").style.opacity'), '0.8')
    // Click the centre of the viewer; the answer names its tile and equals the slide's figure.
    const box = (await page.locator('#viewer').boundingBox())!
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2)
    await page.locator('#tile-probability').waitFor()
    const text = await page.locator('#tile-probability').innerText()
    const [, x, y, p] = /\((\d+), (\d+)\): probability ([\d.]+)/.exec(text) ?? []
    const cell = result.cells[(Number(y) / PATCH) * 6 + Number(x) / PATCH]
    assert.ok(cell !== null && Math.abs(cell - Number(p)) < 1e-3, `${text} vs ${cell}`)
    // The plain tile beside its Grad-CAM, both at the model's patch size; the tile outlined.
    const widths = await page.evaluate(
      '[...document.querySelectorAll("#tile-info img")].map((i) => i.complete && i.naturalWidth)',
    )
    assert.deepEqual(widths, [PATCH, PATCH])
    assert.equal(await page.locator('#tile-marker').count(), 1)
    await page.screenshot({ path: join(ARTIFACTS, 'slide-viewer.png') })
    // No caution on the mosaic (scanned at the model's scale); one on the coarse slide.
    assert.ok(await page.locator('#caution').isHidden())
    await page.selectOption('#slide-select', 'z-coarse.tif')
    await page
      .locator('#caution', { hasText: /2\.000 µm\/px, coarser than the model's 0\.972/ })
      .waitFor()
    assert.deepEqual(problems, [])
  })
})
