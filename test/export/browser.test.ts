// Prediction inside the browser (onnxruntime-web, WebAssembly) in headless Chromium: the page of
// pcam serve with "predict in this browser" switched on, and the static folder of
// `pcam export --format web` served by a plain static file server with no pcam process. Both must
// give libtorch's probabilities (what the server answers) within 1e-4 on real patches (PNG, so the
// browser decodes the same pixels), with test-time augmentation over a subset of symmetries.
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import { extname, join, normalize } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { decodePatch, encodePng } from '../../src/data/decode.js'
import { openPredictor } from '../../src/eval/predictor.js'
import { exportWeb } from '../../src/serve/web-bundle.js'
import { createServer, type PcamServer } from '../../src/serve/server.js'
import * as t from '../../src/torch/index.js'
import { launchBrowser, watchPage } from '../helpers/browser.js'
import { makeRandomRun } from '../helpers/random-run.js'
import { PCAM_JPEG, skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('browser')
const TTA = [0, 1, 6]

/** A plain static file server (what any web host does): files under `dir`, nothing else. */
function staticServer(dir: string): Promise<{ server: Server; address: string }> {
  const types: Record<string, string> = {
    '.html': 'text/html',
    '.js': 'text/javascript',
    '.mjs': 'text/javascript',
    '.css': 'text/css',
    '.json': 'application/json',
    '.wasm': 'application/wasm',
  }
  const server = createHttpServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname))
    const file = join(dir, path.endsWith('/') ? `${path}index.html` : path)
    try {
      const body = readFileSync(file)
      response.writeHead(200, {
        'content-type': types[extname(file)] ?? 'application/octet-stream',
      })
      response.end(body)
    } catch {
      response.writeHead(404).end()
    }
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      resolve({ server, address: `http://127.0.0.1:${port}` })
    }),
  )
}

/** Uploads the patches with the in-browser switch on; returns the probabilities by file name. */
async function predictInPage(page: Page, files: string[]): Promise<Map<string, number>> {
  await page.waitForSelector('#model-card table')
  const toggle = page.locator('#in-browser')
  if (!(await toggle.isChecked())) await toggle.check()
  await page.setInputFiles('#files', files)
  await page.waitForFunction(
    `document.querySelectorAll('#cards figure[data-probability]').length === ${files.length}`,
    undefined,
    { timeout: 60_000 },
  )
  const cards = await page.$$eval('#cards figure', (figures) =>
    figures.map((f) => [f.querySelector('.name')?.textContent ?? '', f.dataset.probability ?? '']),
  )
  return new Map(cards.map(([name, p]) => [name as string, Number(p)]))
}

describe('prediction inside the browser', { skip: skipWithoutData }, () => {
  let browser: Browser
  let server: PcamServer
  let run = ''
  const files: string[] = []
  let expected = new Map<string, number>()
  const closers: (() => Promise<unknown>)[] = []

  before(async () => {
    const pixels: Buffer[] = []
    mkdirSync(join(root, 'patches'))
    for (const label of ['0', '1']) {
      const folder = join(PCAM_JPEG, 'valid', label)
      for (const name of readdirSync(folder).sort().slice(0, 4)) {
        const decoded = (await decodePatch(readFileSync(join(folder, name)))).pixels
        pixels.push(decoded)
        const file = join(root, 'patches', `${label}-${name.replace('.jpg', '.png')}`)
        writeFileSync(file, await encodePng(new Uint8Array(decoded), 96, 96))
        files.push(file)
      }
    }
    const images = t.tensor(new Uint8Array(Buffer.concat(pixels)), {
      shape: [pixels.length, 96, 96, 3],
    })
    run = join(root, 'run')
    await makeRandomRun(run, { arch: 'small', head: 'concat', numClasses: 1 }, images)
    const reference = await openPredictor(run, 'libtorch')
    const p = await reference.predict(images, TTA)
    reference.dispose()
    images.dispose()
    expected = new Map(files.map((f, i) => [f.split('/').at(-1) as string, p[i] as number]))
    server = await createServer({ run, tta: TTA, engine: 'libtorch' })
    closers.push(() => server.close())
    browser = await launchBrowser()
    closers.push(() => browser.close())
  })
  after(async () => {
    for (const close of closers.reverse()) await close()
  })

  it("the served page's switch gives the server's probabilities within 1e-4, offline", async () => {
    const address = await server.app.listen({ host: '127.0.0.1', port: 0 })
    const page = await browser.newPage()
    const problems = watchPage(page, [address, 'blob:', 'data:'])
    const requests: string[] = []
    page.on('request', (r) => requests.push(new URL(r.url()).pathname))
    await page.goto(address)
    const got = await predictInPage(page, files)
    // The images stayed in the browser: no upload, and the model and WebAssembly came from pcam.
    assert.ok(!requests.includes('/api/predict'), requests.join(' '))
    assert.ok(requests.includes('/model.onnx') && requests.includes('/ort/ort.wasm.min.mjs'))
    assert.equal(got.size, files.length)
    for (const [name, p] of expected) {
      const q = got.get(name)
      assert.ok(q !== undefined && Math.abs(q - p) < 1e-4, `${name}: browser ${q}, server ${p}`)
    }
    assert.deepEqual(problems, [])
    await page.close()
  })

  it('the static export predicts from a plain static server, no pcam process', async () => {
    const site = join(root, 'site')
    await exportWeb(run, site)
    // The export's card carries the run's TTA setting (none): compare with libtorch without TTA.
    const reference = await openPredictor(run, 'libtorch')
    const images = t.tensor(
      new Uint8Array(
        Buffer.concat(
          await Promise.all(files.map(async (f) => (await decodePatch(readFileSync(f))).pixels)),
        ),
      ),
      { shape: [files.length, 96, 96, 3] },
    )
    const p = await reference.predict(images, false)
    reference.dispose()
    images.dispose()
    const { server: plain, address } = await staticServer(site)
    closers.push(() => new Promise((resolve) => plain.close(resolve)))
    const page = await browser.newPage()
    const problems = watchPage(page, [address, 'blob:', 'data:'])
    await page.goto(`${address}/`)
    const got = await predictInPage(page, files)
    files.forEach((f, i) => {
      const name = f.split('/').at(-1) as string
      const q = got.get(name)
      assert.ok(
        q !== undefined && Math.abs(q - (p[i] as number)) < 1e-4,
        `${name}: ${q} vs ${p[i]}`,
      )
    })
    assert.ok(await page.locator('#in-browser').isDisabled(), 'a static page has no server to ask')
    // api/model is absent there: the page fell back to model.json, a 404 the browser logs.
    assert.deepEqual(
      problems.filter((m) => !/404/.test(m)),
      [],
    )
    await page.close()
  })
})
