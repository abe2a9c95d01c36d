// The web page of pcam serve in headless Chromium, on a small CNN trained briefly on real PCam
// patches: upload real patches, see probabilities and heatmaps, sort, reach the file picker from
// the keyboard, move the threshold, export the CSV, see a broken file's own error; a screenshot is
// kept in test-artifacts/.
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import sharp from 'sharp'
import type { Browser, FileChooser, Page } from 'playwright-core'
import { prepareStore } from '../../src/data/prepare.js'
import { evaluateToFolder } from '../../src/eval/artifacts.js'
import { trainConfig } from '../../src/recipe/train-config.js'
import { train } from '../../src/recipe/train.js'
import { createServer, type PcamServer } from '../../src/serve/server.js'
import { ARTIFACTS, launchBrowser, watchPage } from '../helpers/browser.js'
import { PCAM_JPEG, skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('web')
const UPLOADS = 8

describe('web page', { skip: skipWithoutData }, () => {
  let server: PcamServer
  let browser: Browser
  let page: Page
  let address = ''
  const uploads: string[] = []

  before(async () => {
    // A few hundred real patches: enough for a model that says something, in seconds.
    for (const [split, count] of [
      ['train', 160],
      ['valid', 32],
    ] as const) {
      for (const label of ['0', '1']) {
        const from = join(PCAM_JPEG, split, label)
        const to = join(root, 'src', split, label)
        mkdirSync(to, { recursive: true })
        for (const f of readdirSync(from).sort().slice(0, count))
          copyFileSync(join(from, f), join(to, f))
      }
    }
    const store = join(root, 'store')
    await prepareStore({ sources: [join(root, 'src')], out: store, split: null })
    const run = join(root, 'run')
    await train(
      trainConfig({
        store,
        out: run,
        head: 'linear',
        batchSize: 32,
        epochs: 1,
        lr: 3e-3,
        seed: 1,
        augment: null,
      }),
    )
    for (const label of ['0', '1']) {
      const dir = join(PCAM_JPEG, 'valid', label)
      uploads.push(
        ...readdirSync(dir)
          .sort()
          .slice(100, 100 + UPLOADS / 2)
          .map((f) => join(dir, f)),
      )
    }
    // An evaluation, so that the model card draws its ROC curve.
    await evaluateToFolder({
      run,
      store,
      split: 'valid',
      tta: false,
      threshold: null,
      topLosses: 0,
    })
    server = await createServer({ run })
    address = await server.app.listen({ host: '127.0.0.1', port: 0 })
    browser = await launchBrowser()
    page = await browser.newPage({ viewport: { width: 1200, height: 900 }, acceptDownloads: true })
  })
  after(async () => {
    await browser?.close()
    await server?.close()
  })

  it('shows the model card, then each uploaded patch with probability, label and heatmap', async () => {
    const problems = watchPage(page, [address, 'data:', 'blob:'])
    await page.goto(address)
    await page.locator('#model-card table').waitFor()
    assert.match(await page.locator('#model-card').innerText(), /small \(linear head\)/)
    // The ROC curve with its AUC, axis titles and the operating point.
    const roc = page.locator('#model-card svg')
    assert.match((await roc.locator('text').first().textContent()) ?? '', /^AUC 0\.\d{3}$/)
    assert.equal(await roc.locator('text', { hasText: 'sensitivity' }).count(), 1)
    assert.equal(await roc.locator('circle').count(), 1)
    await page.setInputFiles('#files', uploads)
    await page
      .locator('.card')
      .nth(UPLOADS - 1)
      .waitFor()
    assert.equal(await page.locator('.card').count(), UPLOADS)
    // The results were scrolled into view.
    assert.ok(await page.locator('#results-title').isVisible())
    assert.ok(((await page.evaluate('window.scrollY')) as number) > 0, 'scrolled to the results')
    assert.equal(await page.locator('#table tbody tr').count(), UPLOADS)
    const heatmaps = (await page.evaluate(
      '[...document.querySelectorAll("img.heatmap")].map((i) => i.complete && i.naturalWidth === 96)',
    )) as boolean[]
    assert.equal(heatmaps.length, UPLOADS)
    assert.ok(heatmaps.every(Boolean), 'every heatmap loaded at 96 px')
    const probabilities = (await page.locator('#table tbody td.num').allInnerTexts()).map(Number)
    assert.ok(probabilities.every((p) => p >= 0 && p <= 1))
    assert.deepEqual(
      probabilities,
      [...probabilities].sort((a, b) => b - a),
      'sorted by probability',
    )
    assert.deepEqual(problems, [])
  })

  it('sorts by name from a header button, and opens the file picker from the keyboard', async () => {
    await page.getByRole('button', { name: 'Patch', exact: true }).click()
    const names = await page.locator('#table tbody tr td:first-child').allInnerTexts()
    assert.deepEqual(names, [...names].sort(), 'ascending by name')
    assert.equal(await page.locator('#table th').first().getAttribute('aria-sort'), 'ascending')
    // Listening first: Playwright intercepts file choosers only once a listener is in place.
    const chooser = new Promise<FileChooser>((resolve) => page.once('filechooser', resolve))
    await page.waitForTimeout(200)
    await page.locator('#drop').focus()
    await page.keyboard.press('Enter')
    assert.ok((await chooser).isMultiple())
  })

  it('the threshold slider relabels, the heatmap toggles, the CSV exports what is shown', async () => {
    await page.locator('#threshold').fill('0')
    const labels = await page.locator('#table tbody tr td:nth-child(3)').allInnerTexts()
    assert.ok(
      labels.every((l) => l === '1 tumour'),
      labels.join(),
    )
    assert.match(
      await page.locator('#summary').innerText(),
      new RegExp(`^${UPLOADS} of ${UPLOADS}`),
    )
    await page.locator('#threshold').fill('1')
    assert.ok(
      (await page.locator('#table tbody tr td:nth-child(3)').allInnerTexts()).every(
        (l) => l === '0 normal',
      ),
    )
    // Back to the model's own threshold with one button.
    await page.locator('#reset-threshold').click()
    const own = (await server.app.inject({ url: '/api/model' })).json().threshold
    assert.ok(Math.abs(Number(await page.locator('#threshold').inputValue()) - own) <= 5e-4)
    await page.locator('#threshold').fill('0.5')
    const first = page.locator('.card').first()
    await first.getByRole('button', { name: 'Heatmap' }).click()
    assert.equal(await first.locator('img.heatmap').isHidden(), true)
    // Moving the slider re-renders the cards; the card's own choice stays.
    await page.locator('#threshold').fill('0.4')
    await page.locator('#threshold').fill('0.5')
    assert.equal(await page.locator('.card').first().locator('img.heatmap').isHidden(), true)
    // One control shows or hides every heatmap (a card's own choice with it); browser mode, which
    // has no Grad-CAM, says so beside it.
    await page.locator('#explain').uncheck()
    assert.equal(await page.locator('img.heatmap:visible').count(), 0)
    await page.locator('#explain').check()
    assert.equal(await page.locator('img.heatmap:visible').count(), UPLOADS)
    assert.ok(await page.locator('#explain-note').isHidden())
    await page.locator('#in-browser').check()
    await page.locator('#explain-note', { hasText: /Grad-CAM runs on the server/ }).waitFor()
    await page.locator('#in-browser').uncheck()
    assert.ok(await page.locator('#explain-note').isHidden())
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('#export').click(),
    ])
    const csv = readFileSync((await download.path())!, 'utf8')
      .trim()
      .split('\n')
    // Each row says who predicted it: here the server.
    assert.equal(csv[0], 'name,probability,label,threshold,engine')
    assert.equal(csv.length, UPLOADS + 1)
    assert.ok(csv.slice(1).every((row) => row.endsWith(',0.5,server')))
    await page.screenshot({ path: join(ARTIFACTS, 'web.png'), fullPage: true })
  })

  it("reports each file's result or error on its own; a new upload clears the old results", async () => {
    const broken = join(root, 'broken.png')
    writeFileSync(broken, 'not an image at all')
    await page.setInputFiles('#files', [uploads[0]!, broken, uploads[1]!])
    await page.locator('#status', { hasText: '2 of 3 files predicted' }).waitFor()
    assert.equal(await page.locator('.card').count(), 2)
    assert.equal(await page.locator('#table tbody tr').count(), 2)
    const failures = await page.locator('#failures li').allInnerTexts()
    assert.equal(failures.length, 1)
    assert.match(failures[0]!, /broken\.png.*Cannot decode/)
    await page.locator('#threshold').fill('0.2')
    await page.setInputFiles('#files', [uploads[2]!])
    await page.locator('#status', { hasText: '1 of 1 files predicted' }).waitFor()
    // A new upload starts at the model's threshold again.
    const own = (await server.app.inject({ url: '/api/model' })).json().threshold
    assert.ok(Math.abs(Number(await page.locator('#threshold').inputValue()) - own) <= 5e-4)
    assert.equal(await page.locator('.card').count(), 1)
    assert.equal(await page.locator('#failures li').count(), 0)
  })

  it("a patch of another size is told to tick the page's resize box, not to edit a URL", async () => {
    const small = join(root, 'small.png')
    await sharp({ create: { width: 40, height: 40, channels: 3, background: '#b07090' } })
      .png()
      .toFile(small)
    await page.setInputFiles('#files', [small])
    await page.locator('#status', { hasText: '0 of 1 files predicted' }).waitFor()
    const failures = await page.locator('#failures li').allInnerTexts()
    assert.match(failures[0]!, /small\.png is 40x40; .*tick "Resize patches of another size"/)
    assert.ok(!failures[0]!.includes('?resize=1'))
  })
})
