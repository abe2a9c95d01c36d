// The slide routes under crafted slides and floods of requests: Deep Zoom keys have one spelling,
// slides are opened once (failures remembered) and errors never show the server's paths, long
// names are served, results are kept by full file name, Grad-CAM tiles queue in the batcher,
// slide jobs are refused up front past their bounds, cancelled, timed out, and stopped by close().
// Synthetic slides and a random run: nothing here needs ../shared.
import assert from 'node:assert/strict'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import sharp from 'sharp'
import { createServer, type PcamServer } from '../../src/serve/server.js'
import { defaultResults } from '../../src/serve/slide-routes.js'
import { modelFingerprint } from '../../src/run/fingerprint.js'
import { loadSlideModel, predictSlides } from '../../src/slide/batch.js'
import { SLIDE_WORK_LIMITS } from '../../src/slide/limits.js'
import { native } from '../../src/torch/native.js'
import { OpenSlide } from '../../src/torch/openslide.js'
import { makeRandomSlideRun } from '../helpers/random-run.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('slide-limits')
const slides = join(root, 'slides')
const run = join(root, 'run')
const LONG = `${'a-very-long-slide-name-'.repeat(7)}.tif` // 165 characters

/** A pyramidal TIFF of smooth colour at 0.5 µm/px: about 10 x 8 tiles for a 96 px model. */
async function syntheticSlide(path: string, width = 2048, height = 1536): Promise<void> {
  const pixels = Buffer.alloc(width * height * 3)
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3
      pixels[at] = 150 + ((x >> 4) % 60)
      pixels[at + 1] = 60 + ((y >> 4) % 50)
      pixels[at + 2] = 160
    }
  await sharp(pixels, { raw: { width, height, channels: 3 } })
    .tiff({
      tile: true,
      tileWidth: 256,
      tileHeight: 256,
      pyramid: true,
      compression: 'jpeg',
      xres: 2000,
      yres: 2000,
      resolutionUnit: 'cm',
    })
    .toFile(path)
}

async function until(check: () => Promise<boolean>, what: string, seconds = 120): Promise<void> {
  const deadline = Date.now() + seconds * 1000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

describe('slide routes under crafted input and load', () => {
  let server: PcamServer
  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string) =>
    server.app.inject({ method, url })
  const job = async (name: string) =>
    (await inject('GET', `/api/slides/${encodeURIComponent(name)}`)).json().job

  before(async () => {
    mkdirSync(slides)
    await syntheticSlide(join(slides, 'dup.svs'))
    copyFileSync(join(slides, 'dup.svs'), join(slides, 'dup.tif'))
    copyFileSync(join(slides, 'dup.svs'), join(slides, LONG))
    copyFileSync(join(slides, 'dup.svs'), join(slides, 'other.tif'))
    writeFileSync(join(slides, 'broken.tif'), Buffer.from('II*\0garbage that is no TIFF at all'))
    // One 4112² tile: OpenSlide would decode all of it (50 MB) for any read that touches it.
    await sharp({ create: { width: 4112, height: 4112, channels: 3, background: '#ffffff' } })
      .tiff({ tile: true, tileWidth: 4112, tileHeight: 4112, compression: 'deflate' })
      .toFile(join(slides, 'huge-tiles.tif'))
    await makeRandomSlideRun(run, 0.972)
    server = await createServer({ run, slides, maxQueue: 2, slideJobTimeoutMs: 60_000 })
  })
  after(async () => {
    await server?.close()
  })

  it('Deep Zoom tiles have one spelling: leading zeros are refused, not cached anew', async () => {
    const info = (await inject('GET', '/api/slides/dup.svs')).json()
    const level = info.deepZoom.maxLevel
    assert.equal((await inject('GET', `/api/slides/dup.svs/dz/${level}/0_0.jpeg`)).statusCode, 200)
    for (const tile of ['00_0.jpeg', '0_000.jpeg', '01_1.jpeg']) {
      const r = await inject('GET', `/api/slides/dup.svs/dz/${level}/${tile}`)
      assert.equal(r.statusCode, 400, `${tile}: ${r.body}`)
    }
  })

  it('opens slides off the event loop: it keeps turning while OpenSlide reads the file', async () => {
    let turns = 0
    let opening = true
    const turn = () => {
      turns++
      if (opening) setImmediate(turn)
    }
    setImmediate(turn)
    const slide = await OpenSlide.open(join(slides, 'dup.tif'))
    opening = false
    slide.close()
    // A synchronous open (as before) blocks the loop until it returns: no turn in between.
    assert.ok(turns > 0, 'the event loop did not turn while the slide was opened')
  })

  it('concurrent requests for one tile share one read', async () => {
    const opened: string[] = []
    const read = native.slideReadRegion
    native.slideReadRegion = (...args) => {
      opened.push(String(args[3]))
      return read(...args)
    }
    try {
      const info = (await inject('GET', '/api/slides/other.tif')).json()
      const url = `/api/slides/other.tif/dz/${info.deepZoom.maxLevel - 1}/1_1.jpeg`
      const answers = await Promise.all(Array.from({ length: 40 }, () => inject('GET', url)))
      assert.ok(answers.every((r) => r.statusCode === 200))
      assert.equal(opened.length, 1, `${opened.length} reads for 40 requests of one tile`)
    } finally {
      native.slideReadRegion = read
    }
  })

  it('a slide that fails to open is remembered until the file changes, and errors hide paths', async () => {
    let opens = 0
    const open = native.slideOpen
    native.slideOpen = (path) => {
      opens++
      return open(path)
    }
    try {
      for (let k = 0; k < 3; k++) {
        const r = await inject('GET', '/api/slides/broken.tif')
        assert.equal(r.statusCode, 400, r.body)
        assert.match(r.json().error, /broken\.tif/)
        assert.ok(!r.body.includes(root), `the answer shows a server path: ${r.body}`)
      }
      assert.equal(opens, 1, 'the broken slide was opened again')
      // Replaced by a good slide (a new modification time): opened again, and served.
      copyFileSync(join(slides, 'dup.svs'), join(slides, 'broken.tif'))
      const later = new Date(Date.now() + 5000)
      utimesSync(join(slides, 'broken.tif'), later, later)
      assert.equal((await inject('GET', '/api/slides/broken.tif')).statusCode, 200)
      assert.equal(opens, 2)
    } finally {
      native.slideOpen = open
    }
  })

  it('refuses a slide stored in tiles too large to decode per read', async () => {
    const r = await inject('GET', '/api/slides/huge-tiles.tif/dz/0/0_0.jpeg')
    assert.equal(r.statusCode, 400, r.body)
    assert.match(r.json().error, /huge-tiles\.tif.*tiles of 4112 x 4112 pixels/)
  })

  it('serves a slide whose name is longer than 100 characters on every route', async () => {
    const listed = (await inject('GET', '/api/slides'))
      .json()
      .slides.map((s: { name: string }) => s.name)
    assert.ok(listed.includes(LONG))
    const name = encodeURIComponent(LONG)
    const info = await inject('GET', `/api/slides/${name}`)
    assert.equal(info.statusCode, 200, info.body)
    const dz = await inject(
      'GET',
      `/api/slides/${name}/dz/${info.json().deepZoom.maxLevel}/0_0.jpeg`,
    )
    assert.equal(dz.statusCode, 200, dz.body)
  })

  it('keeps results by full file name: dup.svs predicted says nothing about dup.tif', async () => {
    assert.equal((await inject('POST', '/api/slides/dup.svs/predict')).statusCode, 202)
    await until(async () => (await job('dup.svs')).status === 'done', 'dup.svs to be predicted')
    const svs = await inject('GET', '/api/slides/dup.svs/result')
    assert.equal(svs.statusCode, 200, svs.body)
    assert.ok(!svs.body.includes(root), 'the result shows a server path')
    const tif = await inject('GET', '/api/slides/dup.tif/result')
    assert.equal(tif.statusCode, 404, tif.body)
    // The result's files download under the slide's name; others are not served.
    const geojson = await inject('GET', '/api/slides/dup.svs/files/tumour.geojson')
    assert.equal(geojson.statusCode, 200, geojson.body)
    assert.equal(geojson.json().type, 'FeatureCollection')
    assert.match(
      String(geojson.headers['content-disposition']),
      /filename="dup.svs.tumour.geojson"/,
    )
    const detections = await inject('GET', '/api/slides/dup.svs/files/detections.csv')
    assert.match(detections.body, /^x,y,probability/)
    assert.equal((await inject('GET', '/api/slides/dup.svs/files/config.json')).statusCode, 400)
    assert.equal((await inject('GET', '/api/slides/dup.tif/files/tiles.csv')).statusCode, 404)
    // Contours at any threshold, for the viewer's slider: all tiles at 0, none above the maximum.
    const all = await inject('GET', '/api/slides/dup.svs/contours?threshold=0')
    assert.ok(all.json().features.length >= 1, all.body)
    const none = await inject('GET', '/api/slides/dup.svs/contours?threshold=1')
    assert.equal(none.json().features.length, 0)
    assert.equal((await inject('GET', '/api/slides/dup.svs/contours?threshold=2')).statusCode, 400)
  })

  it('shows what slide predict wrote into --slide-results, and keeps its own results there', async () => {
    const results = join(root, 'kept-results')
    const model = await loadSlideModel(run)
    await predictSlides([join(slides, 'other.tif')], model, { out: results })
    model.dispose()
    const kept = await createServer({ run, slides, slideResults: results })
    try {
      const shown = await kept.app.inject({ url: '/api/slides/other.tif/result' })
      assert.equal(shown.statusCode, 200, shown.body)
      assert.equal(shown.json().summary.slide, 'other.tif')
      // dup.svs and dup.tif share a stem: each is kept by its full name, neither shows the other.
      assert.equal((await kept.app.inject({ url: '/api/slides/dup.tif/result' })).statusCode, 404)
    } finally {
      await kept.close()
    }
    assert.ok(existsSync(join(results, 'other', 'summary.json')), 'the folder outlives the server')
  })

  it('keeps results beside the slides by default, where slide predict writes from their parent', async () => {
    // A folder of its own: the suite's server keeps its results beside its slides too.
    const own = join(root, 'own-slides')
    mkdirSync(own)
    copyFileSync(join(slides, 'other.tif'), join(own, 'other.tif'))
    const beside = defaultResults(own)
    assert.equal(beside, `${resolve(own)}-out`)
    const model = await loadSlideModel(run)
    await predictSlides([join(own, 'other.tif')], model, { out: beside })
    model.dispose()
    const server = await createServer({ run, slides: own })
    try {
      const shown = await server.app.inject({ url: '/api/slides/other.tif/result' })
      assert.equal(shown.statusCode, 200, shown.body)
    } finally {
      await server.close()
    }
    assert.ok(existsSync(join(beside, 'other', 'summary.json')), 'the folder outlives the server')
    assert.deepEqual(readdirSync(own), ['other.tif'], 'nothing written among the slides')
  })

  it("never takes another model's slide results for this one's, nor replaces them unasked", async () => {
    const otherRun = join(root, 'other-run')
    await makeRandomSlideRun(otherRun, 0.972)
    assert.notEqual(modelFingerprint(otherRun), modelFingerprint(run))
    const own = join(root, 'shared-slides')
    mkdirSync(own)
    copyFileSync(join(slides, 'other.tif'), join(own, 'other.tif'))
    const out = defaultResults(own)
    const slide = join(own, 'other.tif')
    const first = await loadSlideModel(otherRun)
    await predictSlides([slide], first, { out })
    first.dispose()
    const model = await loadSlideModel(run)
    try {
      const refused = await predictSlides([slide], model, { out })
      assert.equal(refused.results.length, 0)
      assert.match(refused.failures[0]!.message, /results of another model.*--overwrite/)
      const server = await createServer({ run, slides: own })
      try {
        const shown = await server.app.inject({ url: '/api/slides/other.tif/result' })
        assert.equal(shown.statusCode, 404, shown.body)
        assert.match(shown.json().error, /from another model.*--slide-results/)
        const predict = await server.app.inject({
          method: 'POST',
          url: '/api/slides/other.tif/predict',
        })
        assert.equal(predict.statusCode, 409, predict.body)
      } finally {
        await server.close()
      }
      const replaced = await predictSlides([slide], model, { out, overwrite: true })
      assert.equal(replaced.results[0]?.modelFingerprint, modelFingerprint(run))
    } finally {
      model.dispose()
    }
  })

  it('Grad-CAM tiles queue in the batcher: a flood gets 503s, not unbounded latency', async () => {
    const urls = Array.from(
      { length: 40 },
      (_, k) => `/api/slides/dup.svs/tile?x=${100 + k * 40}&y=300`,
    )
    const answers = await Promise.all(urls.map((url) => inject('GET', url)))
    const codes = answers.map((r) => r.statusCode)
    assert.ok(codes.includes(503), `no 503 among ${codes.join(',')}`)
    assert.ok(
      codes.every((c) => c === 200 || c === 503),
      codes.join(','),
    )
    const ok = answers.find((r) => r.statusCode === 200)!.json()
    assert.ok(ok.probability >= 0 && ok.probability <= 1)
  })

  it('refuses up front a slide job past the tile or overview bounds', async () => {
    const { maxTiles, maxThumbnailRead } = SLIDE_WORK_LIMITS
    try {
      SLIDE_WORK_LIMITS.maxTiles = 10
      const tiles = await inject('POST', '/api/slides/other.tif/predict')
      assert.equal(tiles.statusCode, 400, tiles.body)
      assert.match(tiles.json().error, /other\.tif would be cut into \d+ tiles/)
      SLIDE_WORK_LIMITS.maxTiles = maxTiles
      SLIDE_WORK_LIMITS.maxThumbnailRead = 1000
      const overview = await inject('POST', '/api/slides/other.tif/predict')
      assert.equal(overview.statusCode, 400, overview.body)
      assert.match(overview.json().error, /no level coarse enough/)
      assert.equal(await job('other.tif'), null, 'a refused job was queued')
    } finally {
      Object.assign(SLIDE_WORK_LIMITS, { maxTiles, maxThumbnailRead })
    }
  })

  it('cancels a queued or running job, and DELETE without one is a 409', async () => {
    assert.equal((await inject('DELETE', '/api/slides/other.tif/predict')).statusCode, 409)
    await inject('POST', '/api/slides/other.tif/predict')
    await inject('POST', `/api/slides/${encodeURIComponent(LONG)}/predict`)
    const first = await inject('DELETE', '/api/slides/other.tif/predict')
    assert.equal(first.statusCode, 200, first.body)
    const second = await inject('DELETE', `/api/slides/${encodeURIComponent(LONG)}/predict`)
    assert.equal(second.statusCode, 200, second.body)
    await until(
      async () =>
        (await job('other.tif')).status === 'cancelled' && (await job(LONG)).status === 'cancelled',
      'both jobs to be cancelled',
    )
    assert.equal((await inject('GET', '/api/slides/other.tif/result')).statusCode, 404)
  })
})

describe('slide jobs stop', () => {
  const dir = tempDir('slide-stop')
  let runDir = ''
  before(async () => {
    mkdirSync(join(dir, 'slides'))
    await syntheticSlide(join(dir, 'slides', 'big.tif'), 8192, 8192)
    runDir = join(dir, 'run')
    // At the slide's own 0.5 µm/px: 85 x 85 tiles, seconds of work to interrupt.
    await makeRandomSlideRun(runDir, 0.5)
  })
  const status = async (server: PcamServer) =>
    (await server.app.inject({ url: '/api/slides/big.tif' })).json().job

  it('at their time limit', async () => {
    const server = await createServer({
      run: runDir,
      slides: join(dir, 'slides'),
      slideJobTimeoutMs: 1,
    })
    try {
      await server.app.inject({ method: 'POST', url: '/api/slides/big.tif/predict' })
      await until(async () => (await status(server)).status === 'failed', 'the job to time out')
      assert.match((await status(server)).error, /stopped after the server's limit/)
    } finally {
      await server.close()
    }
  })

  it('when the server closes: no slide is read after close() returns', async () => {
    const server = await createServer({ run: runDir, slides: join(dir, 'slides') })
    let reads = 0
    const read = native.slideReadRegion
    native.slideReadRegion = (...args) => {
      reads++
      return read(...args)
    }
    try {
      await server.app.inject({ method: 'POST', url: '/api/slides/big.tif/predict' })
      await until(async () => {
        const job = await status(server)
        return job.status === 'running' && job.done > 0
      }, 'the job to start predicting')
      await server.close()
      const atClose = reads
      // Before, the job went on (the process with it, after "Stopped."), reading from a slide
      // whose output folder close() had deleted.
      await sleep(1000)
      assert.equal(reads, atClose, 'the slide job kept reading after close()')
    } finally {
      native.slideReadRegion = read
    }
  })

  it('serves runs that record no µm/px when given --model-mpp (modelMpp)', async () => {
    // A run trained on class folders records no µm/px: without modelMpp its slides cannot be cut.
    const bare = join(dir, 'run-without-mpp')
    await makeRandomSlideRun(bare, null)
    for (const modelMpp of [undefined, 0.5]) {
      const server = await createServer({ run: bare, slides: join(dir, 'slides'), modelMpp })
      try {
        const posted = await server.app.inject({
          method: 'POST',
          url: '/api/slides/big.tif/predict',
        })
        if (modelMpp === undefined) {
          assert.equal(posted.statusCode, 400, posted.body)
          assert.match(posted.json().error, /does not record the µm\/px .*--model-mpp/)
        } else {
          assert.equal(posted.statusCode, 202, posted.body)
          await server.app.inject({ method: 'DELETE', url: '/api/slides/big.tif/predict' })
        }
      } finally {
        await server.close()
      }
    }
  })
})
