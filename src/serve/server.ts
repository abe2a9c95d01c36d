/**
 * `pcam serve`: a trained run behind an HTTP API (Fastify) and the web page. Images from many
 * requests are batched together for the model (DynamicBatcher), which runs in a worker thread;
 * the queue is bounded (503 + Retry-After), bodies are limited (413), bad images get 400 with the
 * reason, and close() lets in-flight requests finish. Only the page's own three files are served.
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import multipart from '@fastify/multipart'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import sharp from 'sharp'
import { decodePatch } from '../data/decode.js'
import { displayClassNames } from '../data/grid.js'
import { rocCurve } from '../eval/metrics.js'
import { runThreshold, type RunConfig, type Tta } from '../eval/predict.js'
import { PACKAGE_ROOT } from '../paths.js'
import { DynamicBatcher, QueueFullError } from './batcher.js'
import { ModelWorker } from './inference.js'
import { ServerMetrics } from './metrics.js'

export interface ServeOptions {
  run: string
  tta?: Tta
  /** Grad-CAM layer for ?explain=1 (default: the last block). */
  layer?: string
  maxBatch?: number
  maxWaitMs?: number
  /** Images waiting for the model before requests are refused with 503. */
  maxQueue?: number
  /** Largest request body in bytes (413 beyond). */
  bodyLimit?: number
  /** Most images in one request. */
  maxFiles?: number
  logger?: boolean
}

// No wait by default: on a CPU a batch takes long enough that the next one forms meanwhile, and
// waiting only added latency at low load (measured with pcam bench serve; see README).
export const SERVE_DEFAULTS = {
  maxBatch: 32,
  maxWaitMs: 0,
  maxQueue: 256,
  bodyLimit: 16 * 1024 * 1024,
  maxFiles: 64,
}

/** An HTTP error with the status and the reason to send. */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
  }
}

interface Item {
  pixels: Uint8Array
  explain: boolean
}
interface Answer {
  probability: number
  overlay: Uint8Array | null
}

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/tiff', 'application/octet-stream']

// The page's files, read once: nothing else on disk is reachable through the server.
function staticAssets(): Map<string, { body: Buffer; type: string }> {
  const file = (path: string) => {
    if (!existsSync(path)) throw new Error(`${path} is missing: build pcam first ("make build").`)
    return readFileSync(path)
  }
  return new Map([
    [
      '/',
      { body: file(join(PACKAGE_ROOT, 'web', 'index.html')), type: 'text/html; charset=utf-8' },
    ],
    [
      '/style.css',
      { body: file(join(PACKAGE_ROOT, 'web', 'style.css')), type: 'text/css; charset=utf-8' },
    ],
    [
      '/app.js',
      {
        body: file(join(PACKAGE_ROOT, 'dist', 'web', 'app.js')),
        type: 'text/javascript; charset=utf-8',
      },
    ],
  ])
}

/** The model card: what the run is, what it was trained on, how it scored. */
function modelCard(run: string, config: RunConfig, tta: Tta) {
  const evaluations: Record<string, unknown>[] = []
  let roc: { fpr: number; tpr: number }[] | null = null
  const evalRoot = join(run, 'eval')
  if (existsSync(evalRoot)) {
    for (const name of readdirSync(evalRoot).sort()) {
      const metricsPath = join(evalRoot, name, 'metrics.json')
      if (!existsSync(metricsPath)) continue
      const m = JSON.parse(readFileSync(metricsPath, 'utf8'))
      evaluations.push({
        name,
        split: m.split,
        tta: m.tta,
        patches: m.patches,
        rocAuc: m.rocAuc,
        rocAucLow: m.rocAucLow,
        rocAucHigh: m.rocAucHigh,
        accuracy: m.accuracy,
        sensitivity: m.sensitivity,
        specificity: m.specificity,
      })
      // The ROC curve of the first evaluation with predictions, thinned for the page.
      const predictions = join(evalRoot, name, 'predictions.csv')
      if (!roc && existsSync(predictions)) {
        const rows = readFileSync(predictions, 'utf8').trim().split('\n').slice(1)
        const labels = rows.map((r) => Number(r.split(',')[1]))
        const scores = rows.map((r) => Number(r.split(',')[2]))
        const curve = rocCurve(scores, labels)
        const step = Math.max(1, Math.floor(curve.fpr.length / 200))
        roc = curve.fpr
          .map((fpr, k) => ({ fpr, tpr: curve.tpr[k] as number }))
          .filter((_, k) => k % step === 0 || k === curve.fpr.length - 1)
      }
    }
  }
  return {
    arch: config.model.arch,
    head: config.model.head,
    classes: displayClassNames(config.classes),
    patchSize: config.patchSize ?? config.inputSize,
    inputSize: config.inputSize,
    threshold: runThreshold(config),
    thresholdRule: config.threshold?.rule ?? '0.5',
    tta,
    training: config.data ?? null,
    validation: config.validation ?? null,
    evaluations,
    roc,
  }
}

export interface PcamServer {
  app: FastifyInstance
  metrics: ServerMetrics
  batcher: DynamicBatcher<Item, Answer>
  /** Stops accepting requests, lets in-flight ones finish, then stops the model worker. */
  close(): Promise<void>
}

export async function createServer(options: ServeOptions): Promise<PcamServer> {
  const settings = { ...SERVE_DEFAULTS, ...options }
  const tta = options.tta ?? false
  const assets = staticAssets()
  const worker = await ModelWorker.start({ run: options.run, tta, layer: options.layer })
  const config = worker.config
  const size = config.patchSize ?? config.inputSize
  const classes = displayClassNames(config.classes)
  const threshold = runThreshold(config)
  const card = modelCard(options.run, config, tta)

  let metrics: ServerMetrics | null = null
  const batcher = new DynamicBatcher<Item, Answer>({
    maxBatch: settings.maxBatch,
    maxWaitMs: settings.maxWaitMs,
    maxQueue: settings.maxQueue,
    onBatch: (n) => metrics?.batchSize.observe(n),
    run: async (items) => {
      const pixels = new Uint8Array(items.length * size * size * 3)
      items.forEach((item, k) => pixels.set(item.pixels, k * size * size * 3))
      const explain = items.flatMap((item, k) => (item.explain ? [k] : []))
      const answer = await worker.predict({ pixels, count: items.length, size, explain })
      const patch = size * size * 3
      return items.map((_, k) => {
        const at = explain.indexOf(k)
        return {
          probability: answer.probabilities[k] as number,
          overlay:
            at >= 0 && answer.overlays ? answer.overlays.slice(at * patch, (at + 1) * patch) : null,
        }
      })
    },
  })
  metrics = new ServerMetrics(() => batcher.queueLength)
  const serverMetrics = metrics

  const app = Fastify({ logger: options.logger ?? false, bodyLimit: settings.bodyLimit })
  await app.register(multipart, {
    limits: { fileSize: settings.bodyLimit, files: settings.maxFiles, fields: 16 },
  })
  app.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  )

  // While closing, answers end their connection, so keep-alive clients do not hold close() up.
  let closing = false
  app.addHook('onSend', async (_request, reply) => {
    if (closing) void reply.header('connection', 'close')
  })

  const started = new WeakMap<FastifyRequest, number>()
  app.addHook('onRequest', async (request) => {
    started.set(request, performance.now())
  })
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown'
    const seconds = (performance.now() - (started.get(request) ?? performance.now())) / 1000
    serverMetrics.request(route, reply.statusCode, seconds)
  })

  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    if (error instanceof QueueFullError) {
      void reply.code(503).header('Retry-After', '1').send({ error: error.message })
      return
    }
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500
    const message =
      status === 413
        ? `The request is too large (limit ${settings.bodyLimit} bytes and ${settings.maxFiles} images).`
        : status === 500
          ? 'Internal error'
          : error.message
    if (status === 500) app.log.error(error)
    void reply.code(status).send({ error: message })
  })
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: `No route ${request.method} ${request.url.split('?')[0]}` })
  })

  // Wrong methods on known paths: 405 with the methods that are allowed.
  const allow = (url: string, methods: string) =>
    app.route({
      method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'].filter((m) => !methods.includes(m)),
      url,
      handler: async (_request, reply) =>
        reply
          .code(405)
          .header('Allow', methods)
          .send({ error: `Use ${methods} on ${url}` }),
    })

  for (const [url, asset] of assets) {
    app.get(url, async (_request, reply) => reply.type(asset.type).send(asset.body))
  }
  app.get('/healthz', async () => ({ status: 'ok', queue: batcher.queueLength }))
  app.get('/metrics', async (_request, reply) =>
    reply.type('text/plain; version=0.0.4').send(serverMetrics.render()),
  )
  app.get('/api/model', async () => card)
  app.post('/api/predict', async (request, reply) => {
    const query = request.query as Record<string, string | undefined>
    const explain = query.explain === '1' || query.explain === 'true'
    const resize = query.resize === '1' || query.resize === 'true'
    const uploads = await readUploads(request)
    if (uploads.length === 0)
      throw new HttpError(
        400,
        'Send one or more images: multipart files, or one PNG/JPEG/TIFF as the body.',
      )
    const patches = await Promise.all(uploads.map((u) => toPatch(u, size, resize)))
    const answers = await Promise.all(patches.map((pixels) => batcher.submit({ pixels, explain })))
    serverMetrics.images += answers.length
    const results = await Promise.all(
      answers.map(async (a, k) => {
        const predicted = a.probability >= threshold ? 1 : 0
        const result: Record<string, unknown> = {
          name: uploads[k]!.name,
          probability: a.probability,
          predicted,
          label: classes[predicted],
        }
        if (a.overlay) {
          const png = await sharp(a.overlay, { raw: { width: size, height: size, channels: 3 } })
            .png()
            .toBuffer()
          result.heatmap = `data:image/png;base64,${png.toString('base64')}`
        }
        return result
      }),
    )
    return reply.send({ threshold, tta, results })
  })
  allow('/api/predict', 'POST')
  allow('/api/model', 'GET')
  allow('/healthz', 'GET')
  allow('/metrics', 'GET')

  return {
    app,
    metrics: serverMetrics,
    batcher,
    close: async () => {
      closing = true
      const closed = app.close()
      app.server.closeIdleConnections()
      await closed
      await batcher.drain()
      await worker.close()
    },
  }
}

interface Upload {
  name: string
  bytes: Buffer
}

async function readUploads(request: FastifyRequest): Promise<Upload[]> {
  if (request.isMultipart()) {
    const uploads: Upload[] = []
    for await (const part of request.parts()) {
      if (part.type === 'file') uploads.push({ name: part.filename, bytes: await part.toBuffer() })
    }
    return uploads
  }
  const body = request.body
  if (Buffer.isBuffer(body) && body.length > 0) {
    const name = (request.headers['x-filename'] as string | undefined) ?? 'image'
    return [{ name, bytes: body }]
  }
  if (request.headers['content-type'] && body !== undefined)
    throw new HttpError(
      415,
      `Unsupported content type ${request.headers['content-type']}; send multipart/form-data or an image.`,
    )
  return []
}

/** Decodes an upload to size x size RGB, resizing it only when asked. */
async function toPatch(upload: Upload, size: number, resize: boolean): Promise<Uint8Array> {
  let decoded
  try {
    decoded = await decodePatch(upload.bytes)
  } catch (error) {
    throw new HttpError(
      400,
      `Cannot decode ${upload.name}: ${(error as Error).message.split('\n')[0]}`,
    )
  }
  if (decoded.width === size && decoded.height === size) return new Uint8Array(decoded.pixels)
  if (!resize) {
    throw new HttpError(
      400,
      `${upload.name} is ${decoded.width}x${decoded.height}; the model takes ${size}x${size} patches (add ?resize=1 to resize).`,
    )
  }
  const pixels = await sharp(decoded.pixels, {
    raw: { width: decoded.width, height: decoded.height, channels: 3 },
  })
    .resize(size, size, { fit: 'cover' })
    .raw()
    .toBuffer()
  return new Uint8Array(pixels)
}
