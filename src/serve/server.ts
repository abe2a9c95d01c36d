/**
 * `pcam serve`: a trained run behind an HTTP API (Fastify) and the web page, composed of one
 * plugin per concern: the page's files (page-routes.ts), health and metrics (health-routes.ts),
 * the model card and predictions (predict-routes.ts), the browser's model (onnx-routes.ts) and,
 * with --slides, the slide viewer's API (slide-routes.ts). Here is what they share: the model
 * worker, the patch batcher with its bounded queue (503 + Retry-After), the request limits (413
 * for bodies, 408 for slow clients), the one error handler (http-errors.ts), and close(), which
 * lets in-flight requests finish within a bound.
 * @module
 */
import type { ComputeRequest } from '../learn/precision.js'
import multipart from '@fastify/multipart'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import type { Tta } from '../data/tta.js'
import { ConfigError } from '../errors.js'
import { modelFingerprint } from '../run/fingerprint.js'
import type { Engine } from '../eval/predictor.js'
import { healthRoutes } from './health-routes.js'
import { errorAnswer } from './http-errors.js'
import { ModelWorker } from './inference.js'
import { ServerMetrics } from './metrics.js'
import { onnxRoutes } from './onnx-routes.js'
import { pageRoutes } from './page-routes.js'
import { patchBatcher, type PatchBatcher } from './patch-batcher.js'
import { predictRoutes } from './predict-routes.js'
import { slideRoutes } from './slide-routes.js'

/** What createServer serves and how: the run, its engine, and the server's limits. */
export interface ServeOptions {
  /** The run folder (what pcam train wrote) whose model answers. */
  run: string
  /** Test-time augmentation of the probabilities (default none). */
  tta?: Tta
  /** Grad-CAM layer for ?explain=1 (default: the last block). */
  layer?: string
  /** Engine for the probabilities (default: defaultEngine of the run); Grad-CAM is always libtorch. */
  engine?: Engine
  /** Precision and device of libtorch's model (default auto). */
  compute?: ComputeRequest
  /** Most images the model takes in one batch (default 32). */
  maxBatch?: number
  /**
   * Time a batch waits for more images after its first arrived, in ms (default 0: the end of the
   * event loop's turn).
   */
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
  /** Log requests with Fastify's logger (default off). */
  logger?: boolean
  /** A folder of whole slides for the slide viewer (/slides). */
  slides?: string
  /** Time one slide prediction may run (default SLIDE_LIMITS.jobTimeoutMs, 2 hours). */
  slideJobTimeoutMs?: number
  /** µm/px of the run's patches when it records none. */
  modelMpp?: number
  /** µm/px for the slide viewer's slides, used in place of what a slide records. */
  slideMpp?: number
  /** A folder that keeps the slides' results (and holds slide predict outputs to show). */
  slideResults?: string
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

type ServeSettings = typeof SERVE_DEFAULTS & { logger?: boolean }

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/tiff', 'application/octet-stream']

/** A server createServer made: its parts, and close() to stop them all. */
export interface PcamServer {
  /** The Fastify instance with every route registered, not yet listening (see listen()). */
  app: FastifyInstance
  /** The counters and timings served at GET /metrics. @internal */
  metrics: ServerMetrics
  /** Gathers uploaded patches from all requests into batches for the model worker. @internal */
  batcher: PatchBatcher
  /** The worker thread that holds the run's model and predicts. @internal */
  worker: ModelWorker
  /** Stops accepting requests, lets in-flight ones finish, then stops the model worker. */
  close(): Promise<void>
}

/**
 * Starts the model worker and the HTTP server around it, not yet listening (see listen()).
 * @example
 * const server = await createServer({ run: 'runs/mobilenet_v1' })
 * console.log(await listen(server, '127.0.0.1', 8080))
 */
export async function createServer(options: ServeOptions): Promise<PcamServer> {
  const { run, layer, engine, compute, slides } = options
  const settings = { ...SERVE_DEFAULTS, ...options }
  const tta = options.tta ?? false
  let closing = false
  const metrics = new ServerMetrics(() => batcher.queueLength)
  const app = await createApp(settings, metrics, () => closing)
  // The page first: an unbuilt page is refused before the model worker starts.
  await app.register(pageRoutes, { slideViewer: slides !== undefined })

  const worker = await ModelWorker.start({ run, tta, layer, engine, compute })
  const { maxBatch, maxWaitMs, maxQueue, bodyLimit } = settings
  const batcher = patchBatcher(worker, {
    maxBatch,
    maxWaitMs,
    maxQueue,
    onBatch: (n) => metrics.batch(n),
  })
  try {
    await app.register(healthRoutes, { worker, batcher, metrics })
    const config = worker.config
    await app.register(predictRoutes, { run, config, tta, batcher, metrics, bodyLimit })
    await app.register(onnxRoutes, { onnxPath: () => worker.onnxPath() })
    if (slides) {
      const { modelMpp, slideMpp, slideJobTimeoutMs: jobTimeoutMs, slideResults: results } = options
      await app.register(slideRoutes, {
        folder: slides,
        worker,
        batcher,
        jobTimeoutMs,
        modelMpp,
        slideMpp,
        results,
        fingerprint: modelFingerprint(run),
      })
    }
  } catch (error) {
    // A plugin refused (a missing slide folder): the worker thread would keep the process alive.
    await worker.close()
    throw error
  }

  const close = async () => {
    closing = true
    await closeApp(app, settings.shutdownTimeoutMs)
    await batcher.drain()
    await worker.close()
  }
  return { app, metrics, batcher, worker, close }
}

/**
 * The Fastify instance the plugins are registered on: limits and timeouts, body parsers, the
 * error and not-found handlers, and hooks.
 */
async function createApp(
  settings: ServeSettings,
  metrics: ServerMetrics,
  closing: () => boolean,
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: settings.logger ?? false,
    bodyLimit: settings.bodyLimit,
    // Slide names are file names (up to 255 bytes, three times that URL-encoded); Fastify's
    // default of 100 answered 414 for names the slide list showed.
    maxParamLength: 1024,
    requestTimeout: settings.requestTimeoutMs,
    // NOTE: Node enforces requestTimeout only when it checks its connections (every 30 s unless
    // told), and not at all while headersTimeout exceeds it.
    http: {
      headersTimeout: Math.min(60_000, settings.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(1000, settings.requestTimeoutMs),
    },
  })
  // NOTE: all of this comes before any plugin: a plugin's context copies its parent's parsers,
  // handlers and hooks when it is registered, and misses what is added later.
  // The parsers serve every route, not only /api/predict's plugin: a wrong method sending an
  // image still gets its 405, not a 415.
  await app.register(multipart, {
    limits: { fileSize: settings.bodyLimit, files: settings.maxFiles, fields: 16 },
  })
  app.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  )

  const tooLarge = `The request is too large (limit ${settings.bodyLimit} bytes and ${settings.maxFiles} images).`
  app.setErrorHandler((error, _request, reply) => {
    const answer = errorAnswer(error, tooLarge)
    if (answer.status === 500) app.log.error(error)
    void reply.code(answer.status).headers(answer.headers).send(answer.body)
  })
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: `No route ${request.method} ${request.url.split('?')[0]}` })
  })

  // While closing, answers end their connection, so keep-alive clients do not hold close() up.
  app.addHook('onSend', async (_request, reply) => {
    if (closing()) void reply.header('connection', 'close')
  })
  timeRequests(app, metrics)
  return app
}

/** Counts every request by route and status, and times it, for GET /metrics. */
function timeRequests(app: FastifyInstance, metrics: ServerMetrics): void {
  const started = new WeakMap<FastifyRequest, number>()
  app.addHook('onRequest', async (request) => {
    started.set(request, performance.now())
  })
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown'
    const seconds = (performance.now() - (started.get(request) ?? performance.now())) / 1000
    metrics.request(route, reply.statusCode, seconds)
  })
}

/**
 * Closes the app, its plugins' onClose hooks included: requests in flight finish, but none
 * holds it up beyond `timeoutMs`.
 */
async function closeApp(app: FastifyInstance, timeoutMs: number): Promise<void> {
  const closed = app.close()
  app.server.closeIdleConnections()
  // A client that never finishes its request must not hold the shutdown up.
  const deadline = setTimeout(() => app.server.closeAllConnections(), timeoutMs)
  try {
    await closed
  } finally {
    clearTimeout(deadline)
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
