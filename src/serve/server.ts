/**
 * `pcam serve`: a trained run behind an HTTP API (Fastify) and the web page. Images from many
 * requests are batched together for the model (DynamicBatcher), which runs in a worker thread;
 * the queue is bounded (503 + Retry-After), whole bodies are limited (413) and timed (408), bad
 * images get 400 with the reason, and close() lets in-flight requests finish within a bound.
 * Only the page's own files are served (page-files.ts).
 * @module
 */
import multipart from '@fastify/multipart'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { encodePng } from '../data/decode.js'
import { displayClassNames } from '../data/grid.js'
import { runPatchSize, runThreshold } from '../run/run-folder.js'
import type { Tta } from '../data/tta.js'
import { ConfigError } from '../errors.js'
import { errorAnswer, HttpError } from './http-errors.js'
import type { Engine } from '../eval/predictor.js'
import { ModelWorker } from './inference.js'
import { onnxRoutes } from './onnx-routes.js'
import { PAGE_FILES, readPageFile, slidePageFiles } from './page-files.js'
import { patchBatcher, type PatchBatcher } from './patch-batcher.js'
import { ServerMetrics } from './metrics.js'
import { modelCard } from '../eval/model-card.js'
import { PREDICT_QUERY, switchOn, type PredictQuery } from './schemas.js'
import { slideRoutes } from './slide-routes.js'
import { readUploads, toPatch } from './uploads.js'

export interface ServeOptions {
  run: string
  tta?: Tta
  /** Grad-CAM layer for ?explain=1 (default: the last block). */
  layer?: string
  /** Engine for the probabilities (default DEFAULT_ENGINE); Grad-CAM is always libtorch. */
  engine?: Engine
  maxBatch?: number
  maxWaitMs?: number
  /** Images waiting for the model before requests are refused with 503. */
  maxQueue?: number
  /** Largest request body in bytes, all files together (413 beyond). */
  bodyLimit?: number
  /** Most images in one request. */
  maxFiles?: number
  /** Time a client has to send its whole request (408 beyond). */
  requestTimeoutMs?: number
  /** Time close() gives requests in flight before it closes their connections. */
  shutdownTimeoutMs?: number
  logger?: boolean
  /** A folder of whole slides for the slide viewer (/slides). */
  slides?: string
}

// No wait by default: on a CPU a batch takes long enough that the next one forms meanwhile, and
// waiting only added latency at low load (measured with pcam bench serve; see README).
export const SERVE_DEFAULTS = {
  maxBatch: 32,
  maxWaitMs: 0,
  maxQueue: 256,
  bodyLimit: 16 * 1024 * 1024,
  maxFiles: 64,
  requestTimeoutMs: 60_000,
  shutdownTimeoutMs: 10_000,
}

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/tiff', 'application/octet-stream']

// The page's files (and the slide viewer's with --slides), read once.
function staticAssets(slides: boolean): Map<string, { body: Buffer; type: string }> {
  const files = [...PAGE_FILES, ...(slides ? slidePageFiles() : [])]
  return new Map(files.map((f) => [f.url, { body: readPageFile(f), type: f.type }]))
}

export interface PcamServer {
  app: FastifyInstance
  metrics: ServerMetrics
  batcher: PatchBatcher
  worker: ModelWorker
  /** Stops accepting requests, lets in-flight ones finish, then stops the model worker. */
  close(): Promise<void>
}

export async function createServer(options: ServeOptions): Promise<PcamServer> {
  const settings = { ...SERVE_DEFAULTS, ...options }
  const tta = options.tta ?? false
  const assets = staticAssets(options.slides !== undefined)
  const worker = await ModelWorker.start({
    run: options.run,
    tta,
    layer: options.layer,
    engine: options.engine,
  })
  const config = worker.config
  const size = runPatchSize(config)
  const classes = displayClassNames(config.classes)
  const threshold = runThreshold(config)
  const card = modelCard(options.run, config, tta)

  const metrics = new ServerMetrics(() => batcher.queueLength)
  const batcher = patchBatcher(worker, {
    maxBatch: settings.maxBatch,
    maxWaitMs: settings.maxWaitMs,
    maxQueue: settings.maxQueue,
    onBatch: (n) => metrics.batchSize.observe(n),
  })

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: settings.bodyLimit,
    requestTimeout: settings.requestTimeoutMs,
    // NOTE: Node enforces requestTimeout only when it checks its connections (every 30 s unless
    // told), and not at all while headersTimeout exceeds it.
    http: {
      headersTimeout: Math.min(60_000, settings.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(1000, settings.requestTimeoutMs),
    },
  })
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
    metrics.request(route, reply.statusCode, seconds)
  })

  const tooLarge = `The request is too large (limit ${settings.bodyLimit} bytes and ${settings.maxFiles} images).`
  app.setErrorHandler((error, _request, reply) => {
    const answer = errorAnswer(error, tooLarge)
    if (answer.status === 500) app.log.error(error)
    void reply.code(answer.status).headers(answer.headers).send(answer.body)
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
  app.get('/healthz', async (_request, reply) =>
    worker.stopped
      ? reply.code(503).send({ status: 'down', reason: worker.stopped })
      : { status: 'ok', queue: batcher.queueLength },
  )
  app.get('/metrics', async (_request, reply) =>
    reply.type('text/plain; version=0.0.4').send(metrics.render()),
  )
  app.get('/api/model', async () => card)
  await app.register(onnxRoutes, { onnxPath: () => worker.onnxPath() })
  app.post<{ Querystring: PredictQuery }>(
    '/api/predict',
    { schema: { querystring: PREDICT_QUERY } },
    async (request, reply) => {
      const explain = switchOn(request.query.explain)
      const resize = switchOn(request.query.resize)
      const uploads = await readUploads(request, settings.bodyLimit)
      if (uploads.length === 0)
        throw new HttpError(
          400,
          'Send one or more images: multipart files, or one PNG/JPEG/TIFF as the body.',
        )
      // Decoded side by side; a refusal names the first bad file in the request's order, not
      // whichever decode happened to fail first.
      const decoded = await Promise.allSettled(uploads.map((u) => toPatch(u, size, resize)))
      const refused = decoded.find((d) => d.status === 'rejected')
      if (refused) throw refused.reason
      const patches = decoded.map((d) => (d as PromiseFulfilledResult<Uint8Array>).value)
      const answers = await Promise.all(
        batcher.submitAll(patches.map((pixels) => ({ pixels, explain }))),
      )
      metrics.images += answers.length
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
            const png = await encodePng(a.overlay, size, size)
            result.heatmap = `data:image/png;base64,${png.toString('base64')}`
          }
          return result
        }),
      )
      return reply.send({ threshold, tta, results })
    },
  )
  allow('/api/predict', 'POST')
  allow('/api/model', 'GET')
  allow('/healthz', 'GET')
  allow('/metrics', 'GET')
  if (options.slides) await app.register(slideRoutes, { folder: options.slides, worker })

  return {
    app,
    metrics,
    batcher,
    worker,
    close: async () => {
      closing = true
      const closed = app.close()
      app.server.closeIdleConnections()
      // A client that never finishes its request must not hold the shutdown up.
      const deadline = setTimeout(
        () => app.server.closeAllConnections(),
        settings.shutdownTimeoutMs,
      )
      try {
        await closed
      } finally {
        clearTimeout(deadline)
      }
      await batcher.drain()
      await worker.close()
    },
  }
}

/** Listens on host:port; when it cannot, stops the server (its model worker too) and says why. */
export async function listen(server: PcamServer, host: string, port: number): Promise<string> {
  try {
    return await server.app.listen({ host, port })
  } catch (error) {
    await server.close()
    throw new ConfigError(`Cannot listen on ${host}:${port}: ${(error as Error).message}`, {
      cause: error,
    })
  }
}
