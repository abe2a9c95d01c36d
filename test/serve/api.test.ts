// The HTTP API of pcam serve on a small trained run: answers equal batch prediction, heatmaps,
// every error path (400, 404, 405, 413, 415, 503), metrics, dynamic batching, and a drain on close.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import sharp from 'sharp'
import { encodePng } from '../../src/data/decode.js'
import { predictFiles } from '../../src/eval/predict-files.js'
import { ValidationError } from '../../src/errors.js'
import { train } from '../../src/recipe/train.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { createServer, type PcamServer, type ServeOptions } from '../../src/serve/server.js'
import { pngDeclaring, SVG_PATCH, tiffBomb } from '../helpers/crafted-images.js'
import { makeSyntheticStore, syntheticTrainConfig } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('serve')
const run = join(root, 'run')
const servers: PcamServer[] = []

before(async () => {
  const store = await makeSyntheticStore(root)
  await train(syntheticTrainConfig(store, run))
})
after(async () => {
  for (const s of servers) await s.close()
})

async function serve(options: Partial<ServeOptions> = {}): Promise<PcamServer> {
  const server = await createServer({ run, ...options })
  servers.push(server)
  return server
}

const validPatches = (label: number) =>
  readdirSync(join(root, 'src', 'valid', String(label))).map((f) =>
    join(root, 'src', 'valid', String(label), f),
  )

/** A multipart body with the given files (name, bytes). */
function multipart(files: [string, Buffer][]): {
  payload: Buffer
  headers: Record<string, string>
} {
  const boundary = 'pcam-test-boundary'
  const parts = files.map(([name, bytes]) =>
    Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="${name}"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      ),
      bytes,
      Buffer.from('\r\n'),
    ]),
  )
  return {
    payload: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  }
}

/** POSTs the files to url as a multipart body. */
const post = (server: PcamServer, url: string, files: [string, Buffer][]) =>
  server.app.inject({ method: 'POST', url, ...multipart(files) })

describe('serve API', () => {
  let server: PcamServer
  before(async () => {
    server = await serve()
  })

  it("answers as batch prediction does, in order, at the run's threshold", async () => {
    const files = [...validPatches(0).slice(0, 3), ...validPatches(1).slice(0, 3)]
    const response = await post(
      server,
      '/api/predict',
      files.map((f) => [f.split('/').slice(-2).join('-'), readFileSync(f)]),
    )
    assert.equal(response.statusCode, 200, response.body)
    const body = response.json()
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'))
    assert.equal(body.threshold, config.threshold.value)
    const { predictions } = await predictFiles({
      run,
      sources: [join(root, 'src', 'valid')],
      tta: false,
    })
    const reference = new Map(
      predictions.map((p) => [
        p.id
          .replace(/\.png$/, '')
          .split('/')
          .slice(-2)
          .join('-'),
        p.probability,
      ]),
    )
    assert.equal(body.results.length, 6)
    for (const r of body.results) {
      const want = reference.get(r.name.replace(/\.png$/, ''))!
      assert.ok(Math.abs(r.probability - want) < 1e-5, `${r.name}: ${r.probability} vs ${want}`)
      assert.equal(r.predicted, r.probability >= body.threshold ? 1 : 0)
      assert.equal(r.label, ['0 normal', '1 tumour'][r.predicted])
      assert.equal(r.heatmap, undefined)
    }
  })

  it('?explain=1 adds a Grad-CAM overlay PNG of the patch size; a raw image body works too', async () => {
    const response = await server.app.inject({
      method: 'POST',
      url: '/api/predict?explain=1',
      payload: readFileSync(validPatches(1)[0]!),
      headers: { 'content-type': 'image/png', 'x-filename': 'one.png' },
    })
    assert.equal(response.statusCode, 200, response.body)
    const [result] = response.json().results
    assert.equal(result.name, 'one.png')
    const png = Buffer.from(result.heatmap.replace(/^data:image\/png;base64,/, ''), 'base64')
    const meta = await sharp(png).metadata()
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 16, 16])
  })

  it('400 for an undecodable image, naming it; 400 for a wrong size unless ?resize=1', async () => {
    const bad = await post(server, '/api/predict', [
      ['broken.tif', Buffer.from('not an image at all')],
    ])
    assert.equal(bad.statusCode, 400)
    assert.match(bad.json().error, /Cannot decode broken\.tif/)
    const big = await encodePng(new Uint8Array(40 * 32 * 3).fill(100), 40, 32)
    const wrong = await post(server, '/api/predict', [['big.png', big]])
    assert.equal(wrong.statusCode, 400)
    assert.match(
      wrong.json().error,
      /big\.png is 40x32; the model takes 16x16 patches \(add \?resize=1/,
    )
    const resized = await post(server, '/api/predict?resize=1', [['big.png', big]])
    assert.equal(resized.statusCode, 200)
    const empty = await post(server, '/api/predict', [])
    assert.equal(empty.statusCode, 400)
    assert.match(empty.json().error, /Send one or more images/)
  })

  it('400 naming the field for a query string its schema refuses', async () => {
    const patch = await encodePng(new Uint8Array(16 * 16 * 3).fill(100), 16, 16)
    const maybe = await post(server, '/api/predict?explain=maybe', [['p.png', patch]])
    assert.equal(maybe.statusCode, 400, maybe.body)
    assert.match(
      maybe.json().error,
      /querystring\/explain must be equal to one of the allowed values/,
    )
    const on = await post(server, '/api/predict?explain=true', [['p.png', patch]])
    assert.equal(on.statusCode, 200, on.body)
    assert.match(on.json().results[0].heatmap, /^data:image\/png;base64,/)
  })

  it('404 for an unknown route, 405 with Allow for a wrong method, 415 for JSON', async () => {
    const missing = await server.app.inject({ method: 'GET', url: '/etc/passwd' })
    assert.equal(missing.statusCode, 404)
    const traversal = await server.app.inject({ method: 'GET', url: '/../package.json' })
    assert.equal(traversal.statusCode, 404)
    const method = await server.app.inject({ method: 'GET', url: '/api/predict' })
    assert.equal(method.statusCode, 405)
    assert.equal(method.headers.allow, 'POST')
    const put = await server.app.inject({ method: 'DELETE', url: '/api/model' })
    assert.equal(put.statusCode, 405)
    const json = await server.app.inject({ method: 'POST', url: '/api/predict', payload: { a: 1 } })
    assert.equal(json.statusCode, 415)
  })

  it('model card, health, page and Prometheus metrics', async () => {
    const card = (await server.app.inject({ url: '/api/model' })).json()
    assert.equal(card.arch, 'small')
    assert.deepEqual(card.classes, ['0 normal', '1 tumour'])
    assert.equal(card.patchSize, 16)
    assert.equal(card.thresholdRule, 'youden')
    assert.equal((await server.app.inject({ url: '/healthz' })).json().status, 'ok')
    const page = await server.app.inject({ url: '/' })
    assert.match(page.headers['content-type'] as string, /text\/html/)
    assert.match(page.body, /<script type="module" src="\/app.js">/)
    assert.match((await server.app.inject({ url: '/app.js' })).body, /api\/predict/)
    const metrics = (await server.app.inject({ url: '/metrics' })).body
    assert.match(metrics, /pcam_requests_total\{route="\/api\/predict",status="200"\} \d+/)
    assert.match(metrics, /pcam_requests_total\{route="\/api\/predict",status="400"\} \d+/)
    assert.match(metrics, /pcam_request_seconds_bucket\{le="\+Inf"\} \d+/)
    assert.match(metrics, /pcam_queue_length 0/)
    // prom-client's process metrics come with them.
    assert.match(metrics, /^process_resident_memory_bytes \d+/m)
  })

  it('GET /model.onnx: the model worker exports it when missing; /ort/ serves onnxruntime-web', async () => {
    const path = join(run, 'model.onnx')
    rmSync(path, { force: true })
    const model = await server.app.inject({ url: '/model.onnx' })
    assert.equal(model.statusCode, 200)
    assert.ok(existsSync(path), "the worker wrote the run's model.onnx")
    assert.deepEqual(model.rawPayload, readFileSync(path))
    const wasm = await server.app.inject({ url: '/ort/ort-wasm-simd-threaded.wasm' })
    assert.equal(wasm.statusCode, 200)
    assert.equal(wasm.headers['content-type'], 'application/wasm')
  })
})

describe('model card with an evaluation', () => {
  it("carries the run's evaluations and a ROC curve from their predictions", async () => {
    const { evaluateToFolder } = await import('../../src/eval/artifacts.js')
    const { result } = await evaluateToFolder({
      run,
      store: join(root, 'store'),
      split: 'valid',
      tta: false,
      threshold: null,
      topLosses: 0,
    })
    const server = await serve()
    const card = (await server.app.inject({ url: '/api/model' })).json()
    assert.equal(card.evaluations.length, 1)
    assert.equal(card.evaluations[0].name, 'valid')
    assert.equal(card.rocEvaluation, 'valid', 'the card says which evaluation its ROC is of')
    assert.equal(card.evaluations[0].rocAuc, result.evaluation.rocAuc)
    assert.deepEqual(card.roc[0], { fpr: 0, tpr: 0 })
    assert.deepEqual(card.roc.at(-1), { fpr: 1, tpr: 1 })
  })
})

describe('serve limits', () => {
  it('413 for a body over the limit and for too many files', async () => {
    const server = await serve({ bodyLimit: 4096, maxFiles: 2 })
    const patch = readFileSync(validPatches(0)[0]!)
    const huge = await server.app.inject({
      method: 'POST',
      url: '/api/predict',
      payload: Buffer.alloc(10_000, 1),
      headers: { 'content-type': 'image/png' },
    })
    assert.equal(huge.statusCode, 413)
    assert.match(huge.json().error, /too large/)
    const many = await post(server, '/api/predict', [
      ['a.png', patch],
      ['b.png', patch],
      ['c.png', patch],
    ])
    assert.equal(many.statusCode, 413)
  })

  it('batches concurrent requests together, and answers 503 with Retry-After over the queue bound', async () => {
    // Batches wait up to 200 ms for 64 images: what arrives together is one batch, or refused.
    const server = await serve({ maxBatch: 64, maxWaitMs: 200, maxQueue: 8 })
    const patch = readFileSync(validPatches(1)[0]!)
    const send = () =>
      server.app.inject({
        method: 'POST',
        url: '/api/predict',
        payload: patch,
        headers: { 'content-type': 'image/png' },
      })
    const first = await Promise.all(Array.from({ length: 6 }, send))
    assert.ok(first.every((r) => r.statusCode === 200))
    const batches = Number(
      /^pcam_batch_size_count (\S+)$/m.exec(await server.metrics.render())?.[1],
    )
    assert.ok(batches < 6, `${batches} batches for 6 requests`)
    // 12 at once against a queue of 8 behind a 100 ms wait: some must be refused.
    const second = await Promise.all(Array.from({ length: 12 }, send))
    const refused = second.filter((r) => r.statusCode === 503)
    assert.ok(refused.length > 0 && refused.length < 12, `${refused.length} refused`)
    assert.equal(refused[0]!.headers['retry-after'], '1')
    assert.ok(second.every((r) => r.statusCode === 200 || r.statusCode === 503))
  })

  it('a model worker that stopped makes health and predictions answer 503 with the fix', async () => {
    const server = await serve()
    await server.worker.close() // as if it had crashed
    const health = await server.app.inject({ url: '/healthz' })
    assert.equal(health.statusCode, 503)
    assert.match(health.json().reason, /The model worker stopped .*restart the server/)
    const predict = await server.app.inject({
      method: 'POST',
      url: '/api/predict',
      payload: readFileSync(validPatches(0)[0]!),
      headers: { 'content-type': 'image/png' },
    })
    assert.equal(predict.statusCode, 503)
    assert.match(predict.json().error, /restart the server/)
  })

  it('close() lets a request in flight finish', async () => {
    const server = await serve({ maxWaitMs: 300 })
    const address = await server.app.listen({ host: '127.0.0.1', port: 0 })
    servers.splice(servers.indexOf(server), 1)
    const pending = fetch(`${address}/api/predict`, {
      method: 'POST',
      body: readFileSync(validPatches(0)[0]!),
      headers: { 'content-type': 'image/png' },
    })
    await new Promise((resolve) => setTimeout(resolve, 100)) // the request waits in the batcher
    const closing = server.close()
    const response = await pending
    assert.equal(response.status, 200)
    await closing
    await assert.rejects(fetch(`${address}/healthz`))
  })
})

describe('bench serve', () => {
  it('measures levels of concurrent clients against a server process, with and without batching', async () => {
    const { benchServe } = await import('../../src/bench/serve.js')
    const results = await benchServe({
      run,
      store: join(root, 'store'),
      clients: [1, 4],
      requests: 24,
      secondsPerLevel: 10,
      maxBatch: 8,
      maxWaitMs: 0,
    })
    assert.deepEqual(
      results.map((r) => r.mode),
      ['dynamic batching', 'batch size 1'],
    )
    for (const r of results) {
      assert.deepEqual(
        r.levels.map((l) => [l.clients, l.requests, l.failed]),
        [
          [1, 24, 0],
          [4, 24, 0],
        ],
      )
      for (const l of r.levels) {
        assert.ok(l.requestsPerSec > 0 && l.p50Ms <= l.p99Ms && l.serverRssMiB > 50)
        if (r.maxBatch === 1) assert.equal(l.meanBatch, 1)
      }
    }
  })
})

describe('serve hardening', () => {
  let server: PcamServer
  before(async () => {
    server = await serve()
  })

  it('refuses images declaring 16000x16000 from their headers, as fast as it answers small ones', async () => {
    const bomb = pngDeclaring(16000, 16000)
    // The baseline: the same request of four real 16 px patches, measured here, on this machine
    // as loaded as it is now. Decoding the bombs would take a thousand times longer.
    const small = await sharp({
      create: { width: 16, height: 16, channels: 3, background: '#a05080' },
    })
      .png()
      .toBuffer()
    const baselineStart = performance.now()
    await post(
      server,
      '/api/predict',
      [1, 2, 3, 4].map((k) => [`small${k}.png`, small]),
    )
    const baseline = performance.now() - baselineStart
    const start = performance.now()
    const plain = await post(
      server,
      '/api/predict',
      [1, 2, 3, 4].map((k) => [`bomb${k}.png`, bomb]),
    )
    assert.equal(plain.statusCode, 400)
    assert.match(plain.json().error, /bomb1\.png is 16000x16000; the model takes 16x16 patches/)
    const resized = await post(server, '/api/predict?resize=1', [['bomb.png', bomb]])
    assert.equal(resized.statusCode, 400)
    assert.match(resized.json().error, /bomb\.png is 16000x16000; .*at most 4096x4096/)
    const tiff = await post(server, '/api/predict?resize=1', [['bomb.tif', tiffBomb(20000)]])
    assert.equal(tiff.statusCode, 400)
    const took = performance.now() - start
    assert.ok(took < 30 * baseline + 2000, `${took} ms, against ${baseline} ms for small patches`)
  })

  it('/healthz answers while a request of crafted images is being refused', async () => {
    const address = await server.app.listen({ host: '127.0.0.1', port: 0 })
    const form = new FormData()
    const tiff = tiffBomb(20000)
    for (let k = 0; k < 4; k++) form.append('images', new Blob([tiff]), `bomb${k}.tif`)
    // The baseline: /healthz on this machine, as loaded as it is, with nothing else in flight.
    const idleStart = performance.now()
    await fetch(`${address}/healthz`)
    const idle = performance.now() - idleStart
    const upload = fetch(`${address}/api/predict?resize=1`, { method: 'POST', body: form })
    await new Promise((resolve) => setTimeout(resolve, 100)) // the upload is being read or decoded
    const start = performance.now()
    const health = await fetch(`${address}/healthz`)
    assert.equal(health.status, 200)
    // A loop blocked by decoding four 20000² TIFFs would hold /healthz for many seconds.
    const took = performance.now() - start
    assert.ok(took < 20 * idle + 1000, `healthz took ${took} ms while busy, ${idle} ms idle`)
    assert.equal((await upload).status, 400)
  })

  it('accepts PNG, JPEG and TIFF only, sniffed from the bytes: SVG is refused', async () => {
    const patch = sharp(readFileSync(validPatches(0)[0]!))
    const jpeg = await patch.clone().jpeg().toBuffer()
    const tiff = await patch.clone().tiff({ compression: 'none' }).toBuffer()
    const ok = await post(server, '/api/predict', [
      ['a.jpg', jpeg],
      ['b.tif', tiff],
    ])
    assert.equal(ok.statusCode, 200, ok.body)
    const svg = await server.app.inject({
      method: 'POST',
      url: '/api/predict',
      payload: SVG_PATCH,
      headers: { 'content-type': 'image/png', 'x-filename': 'patch.png' },
    })
    assert.equal(svg.statusCode, 400)
    assert.match(svg.json().error, /patch\.png: not a PNG, JPEG or TIFF file/)
    const webp = await post(server, '/api/predict', [
      ['w.png', await patch.clone().webp().toBuffer()],
    ])
    assert.equal(webp.statusCode, 400)
  })

  it('client mistakes get 4xx with a reason: empty, truncated or boundary-less bodies', async () => {
    const empty = await server.app.inject({
      method: 'POST',
      url: '/api/predict',
      payload: Buffer.alloc(0),
      headers: { 'content-type': 'image/png' },
    })
    assert.equal(empty.statusCode, 400, empty.body)
    assert.match(empty.json().error, /Send one or more images/)
    const { payload, headers } = multipart([['a.png', readFileSync(validPatches(0)[0]!)]])
    const truncated = await server.app.inject({
      method: 'POST',
      url: '/api/predict',
      payload: payload.subarray(0, payload.length - 30),
      headers,
    })
    assert.equal(truncated.statusCode, 400, truncated.body)
    assert.match(truncated.json().error, /multipart/i)
    const boundless = await server.app.inject({
      method: 'POST',
      url: '/api/predict',
      payload,
      headers: { 'content-type': 'multipart/form-data' },
    })
    assert.equal(boundless.statusCode, 400, boundless.body)
    assert.match(boundless.json().error, /boundary/i)
  })

  it("the model worker's errors keep their class across the thread", async () => {
    const job = { pixels: new Uint8Array(10), count: 1, size: 16, explain: [] }
    await assert.rejects(server.worker.predict(job), (error: Error) => {
      assert.ok(error instanceof ValidationError, `${error.name}: ${error.message}`)
      assert.match(error.message, /holds 768 elements but the array has 10/)
      return true
    })
  })

  it("/api/model names the training data without the machine's paths", async () => {
    const card = (await server.app.inject({ url: '/api/model' })).json()
    assert.match(card.training.source.description, /class folders|src/i)
    assert.ok(!JSON.stringify(card).includes(root), JSON.stringify(card.training))
  })
})

describe('serve hardening: limits and admission', () => {
  it('the body limit bounds the whole multipart request, not each file', async () => {
    const server = await serve({ bodyLimit: 4096, maxFiles: 16 })
    const patch = readFileSync(validPatches(0)[0]!)
    const count = Math.ceil(5000 / patch.length)
    assert.ok(patch.length < 4096 && count <= 16)
    const response = await post(
      server,
      '/api/predict',
      Array.from({ length: count }, (_, k) => [`p${k}.png`, patch]),
    )
    assert.equal(response.statusCode, 413, response.body)
    assert.match(response.json().error, /too large/)
  })

  it('a request refused with 503 leaves none of its images queued', async () => {
    const server = await serve({ maxBatch: 64, maxWaitMs: 300, maxQueue: 8 })
    const patch = readFileSync(validPatches(1)[0]!)
    const response = await post(
      server,
      '/api/predict',
      Array.from({ length: 10 }, (_, k) => [`p${k}.png`, patch]),
    )
    assert.equal(response.statusCode, 503)
    assert.equal(server.batcher.queueLength, 0)
  })

  /** Sends headers and 3 of 100000 body bytes, then nothing; resolves with what came back. */
  const slowClient = (port: number): Promise<string> =>
    new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          'POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n' +
            'Content-Length: 100000\r\n\r\nabc',
        )
      })
      let answer = ''
      socket.setTimeout(8000, () => socket.destroy()) // the test's own bound
      socket.on('data', (chunk) => (answer += chunk))
      socket.on('close', () => resolve(answer))
      socket.on('error', () => resolve(answer))
    })

  it('a client that sends its body slowly gets 408 after the request timeout', async () => {
    const server = await serve({ requestTimeoutMs: 1000 })
    await server.app.listen({ host: '127.0.0.1', port: 0 })
    // Without the timeout the client is never cut off and this waits for the test's own limit.
    const answer = await slowClient((server.app.server.address() as AddressInfo).port)
    assert.match(answer, /^HTTP\/1.1 408/)
  })

  it('close() ends within its bound even while a client holds a request open', async () => {
    const server = await serve({ shutdownTimeoutMs: 500 })
    await server.app.listen({ host: '127.0.0.1', port: 0 })
    servers.splice(servers.indexOf(server), 1)
    const stuck = slowClient((server.app.server.address() as AddressInfo).port)
    await new Promise((resolve) => setTimeout(resolve, 200))
    // Without its bound close() waits for the client forever; 20 s is a ceiling for that hang,
    // far above the 500 ms bound plus a loaded machine's delays.
    const closed = await Promise.race([
      server.close().then(() => true),
      new Promise((resolve) => setTimeout(() => resolve(false), 20_000)),
    ])
    assert.ok(closed, 'close() returned within 20 s')
    await stuck
  })
})

describe('pcam serve start-up', () => {
  // A server that did not exit is killed at 30 s, and its status is then null, not 1.
  const pcam = (args: string[]) =>
    spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'pcam.js'), ...args], {
      encoding: 'utf8',
      timeout: 30_000,
    })

  it('exits non-zero at once for a port out of range or one already in use', async () => {
    const bad = pcam(['serve', '--model', run, '--port', '99999'])
    assert.equal(bad.status, 1, bad.stderr)
    assert.match(bad.stderr, /port up to 65535/)
    const taken = createNetServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const { port } = taken.address() as AddressInfo
    const busy = pcam(['serve', '--model', run, '--port', String(port)])
    taken.close()
    assert.equal(busy.status, 1, busy.stderr)
    assert.match(busy.stderr, /EADDRINUSE|in use/)
  })

  it('exits non-zero at once for a slide folder that does not exist', () => {
    const missing = pcam(['serve', '--model', run, '--port', '0', '--slides', join(root, 'none')])
    assert.equal(missing.status, 1, missing.stderr)
    assert.match(missing.stderr, /Slide folder not found/)
  })
})
