/**
 * The slide viewer's routes for pcam serve --slides <folder>: the slides of that folder (names
 * only, opened off the event loop, failures remembered), Deep Zoom tiles read on demand (cached,
 * one read per tile shared by its requests, bytes in flight bounded), slide prediction queued one
 * slide at a time in the model worker (a bounded queue, a time limit, DELETE to cancel), its
 * result (heatmap grid, contours), and a tile's probability with Grad-CAM through the batcher.
 * Every bound is in SLIDE_LIMITS.
 * @module
 */
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve, sep } from 'node:path'
import type { FastifyPluginAsync } from 'fastify'
import { LRUCache } from 'lru-cache'
import { encodePng } from '../data/decode.js'
import { DataError } from '../errors.js'
import { runMpp, runPatchSize } from '../run/run-folder.js'
import { slideCautions } from '../slide/cautions.js'
import { byModel, slideModelOf } from '../slide/batch.js'
import {
  deepZoomInfo,
  deepZoomRead,
  deepZoomTile,
  READ_BYTES_PER_PIXEL,
} from '../slide/deep-zoom.js'
import { tumourGeoJson } from '../slide/geojson.js'
import { checkThumbnailRead } from '../slide/limits.js'
import {
  completeOutput,
  predictSlide,
  readSlideResult,
  slideStem,
  type SlideModel,
} from '../slide/predict-slide.js'
import { readTiles } from '../slide/pipeline.js'
import { objectivePower, slideResolution } from '../slide/resolution.js'
import { slideTiling, tileAtPoint } from '../slide/grid.js'
import { THUMBNAIL_SIDE, thumbnailPlan } from '../slide/tissue.js'
import { listSlides, OpenSlide } from '../torch/openslide.js'
import {
  CONTOURS_QUERY,
  DEEP_ZOOM_PARAMS,
  RESULT_FILE_PARAMS,
  SLIDE_PARAMS,
  TILE_QUERY,
  type ContoursQuery,
  type DeepZoomParams,
  type ResultFileParams,
  type SlideParams,
  type TileQuery,
} from './schemas.js'
import { BusyError, HttpError } from './http-errors.js'
import type { ModelWorker } from './inference.js'
import type { PatchBatcher } from './patch-batcher.js'
import { SharedReads } from './shared-reads.js'

export interface SlideRoutesOptions {
  /** The folder of whole slides; only the slides listed in it are served. */
  folder: string
  /** Predicts the tiles of a slide job. */
  worker: ModelWorker
  /** Explains a clicked tile, queued with every other request's patches. */
  batcher: PatchBatcher
  /** Time one slide job may run before it is stopped (default SLIDE_LIMITS.jobTimeoutMs). */
  jobTimeoutMs?: number
  /** µm/px of the run's patches when it records none (a run trained on class folders). */
  modelMpp?: number
  /** The run's modelFingerprint: results of another model in the folder are not shown as its. */
  fingerprint?: string
  /** µm/px of the slides, used in place of what they record (needed for slides that record none). */
  slideMpp?: number
  /**
   * A folder for the slides' results, kept when the server stops, where `slide predict --out`
   * outputs of the same slides are found too (default: defaultResults(folder), beside the slides;
   * a temporary folder, removed on close, when that cannot be written).
   */
  results?: string
}

/** The bounds the slide routes keep; each one's excess gets the answer written beside it. */
export const SLIDE_LIMITS = {
  /** Deep Zoom tiles kept in memory (JPEG, about 15 KB each); the oldest go first. */
  cachedTiles: 512,
  /** Slides kept open at once; the least recently used is closed (reopened on demand). */
  openSlides: 8,
  /** Bytes all Deep Zoom reads in flight may hold; more reads wait for room. */
  tileReadBytes: 256 * 2 ** 20,
  /** Deep Zoom reads that may wait for room; one more is a 503. */
  tileReadsWaiting: 64,
  /** Slide jobs that may wait behind the running one; one more is a 503. */
  queuedJobs: 8,
  /** Time a slide job may run; past it the job stops and is marked failed. */
  jobTimeoutMs: 2 * 60 * 60 * 1000,
}

interface Job {
  status: 'queued' | 'running' | 'done' | 'failed' | 'cancelled'
  done: number
  total: number
  error?: string
}

const isActive = (job: Job | undefined) => job?.status === 'queued' || job?.status === 'running'

/**
 * Where a slide folder's results go by default: beside it, never inside it, named as
 * `slide predict` names its default output when run from the folder's parent (`slides-out` for
 * `slides/`), so the viewer shows that command's maps too.
 */
export function defaultResults(slideFolder: string): string {
  const folder = resolve(slideFolder)
  return join(dirname(folder), `${basename(folder)}-out`)
}

/** The folder, made if need be; null when it cannot be made or written. */
function writableFolder(dir: string): string | null {
  try {
    mkdirSync(dir, { recursive: true })
    accessSync(dir, constants.W_OK)
    return dir
  } catch {
    return null
  }
}

/** The slide API under /api/slides (the viewer page is among the page's files). */
export const slideRoutes: FastifyPluginAsync<SlideRoutesOptions> = async (app, options) => {
  const { folder, worker, batcher } = options
  const jobTimeoutMs = options.jobTimeoutMs ?? SLIDE_LIMITS.jobTimeoutMs
  const config = worker.config
  if (!existsSync(folder)) throw new DataError(`Slide folder not found: ${folder}`)
  // A folder asked for must be usable; the default, when it is not, gives way to a temporary one.
  const kept = options.results
    ? (mkdirSync(options.results, { recursive: true }), options.results)
    : writableFolder(defaultResults(folder))
  const out = kept ?? mkdtempSync(join(tmpdir(), 'pcam-serve-slides-'))
  app.log.info(`slide results in ${kept ?? 'a temporary folder, removed when the server stops'}`)
  const size = runPatchSize(config)
  const modelFacts = {
    mpp: options.modelMpp ?? runMpp(config) ?? null,
    sourceKind: config.data?.source.kind ?? null,
  }
  // Answers name slides as the page knows them: the server's folders never leave it.
  const hidden = [resolve(folder) + sep, folder.endsWith(sep) ? folder : folder + sep, out + sep]
  const hidePaths = (message: string) =>
    hidden.reduce((m, prefix) => m.split(prefix).join(''), message)
  app.setErrorHandler((error) => {
    if (error instanceof Error) error.message = hidePaths(error.message)
    throw error // on to the server's handler, which answers
  })

  // The folder's slides, listed again only when the page asks for the list or a name is new.
  let listed: string[] = []
  const names = () => (listed = listSlides(folder))
  names()
  // A slide being predicted is closed when the job ends, not when the cache lets go of it.
  const predicting = new Set<OpenSlide>()
  const open = new LRUCache<string, OpenSlide>({
    max: SLIDE_LIMITS.openSlides,
    // Evicted, replaced or cleared: closed, unless a job still reads it (the job closes it).
    dispose: (s) => {
      if (!predicting.has(s)) s.close()
    },
  })
  const opening = new Map<string, Promise<OpenSlide>>()
  // Why a slide could not be opened, until the file changes: a broken file is not reopened (and
  // its seconds of OpenSlide work repeated) on every request.
  const failed = new Map<string, { mtimeMs: number; size: number; error: DataError }>()
  const tiles = new LRUCache<string, Buffer>({ max: SLIDE_LIMITS.cachedTiles })
  const reads = new SharedReads<Buffer>(SLIDE_LIMITS.tileReadBytes, SLIDE_LIMITS.tileReadsWaiting)
  const jobs = new Map<string, Job>()
  const controllers = new Map<string, AbortController>()
  let queue: Promise<unknown> = Promise.resolve()

  // Only names listed in the folder resolve: "../x" or any other path is a 404. Opening runs on
  // the thread pool, once for all the requests that ask meanwhile.
  const requireListed = (name: string) => {
    if (!listed.includes(name) && !names().includes(name))
      throw new HttpError(404, `No slide named ${name}`)
  }
  const slideOf = async (name: string): Promise<OpenSlide> => {
    requireListed(name)
    const cached = open.get(name)
    if (cached) return cached
    const path = join(folder, name)
    let file: { mtimeMs: number; size: number }
    try {
      file = statSync(path)
    } catch {
      throw new HttpError(404, `No slide named ${name}`)
    }
    const failure = failed.get(name)
    if (failure && failure.mtimeMs === file.mtimeMs && failure.size === file.size)
      throw failure.error
    let pending = opening.get(name)
    if (!pending) {
      pending = OpenSlide.open(path)
        .then(
          (slide) => {
            failed.delete(name)
            open.set(name, slide)
            return slide
          },
          (error: unknown) => {
            if (error instanceof DataError)
              failed.set(name, { ...file, error: new DataError(hidePaths(error.message)) })
            throw error
          },
        )
        .finally(() => opening.delete(name))
      opening.set(name, pending)
    }
    return pending
  }
  const slideModel = (): SlideModel =>
    slideModelOf(
      config,
      async (images) => {
        const count = images.shape[0] as number
        const pixels = images.data() as Uint8Array // a copy, handed over to the model worker
        return (await worker.predict({ pixels, count, size, explain: [] })).probabilities
      },
      { modelMpp: options.modelMpp, fingerprint: options.fingerprint },
    )
  // Results go where slide predict puts them, <out>/<stem>, unless two slides of the folder share
  // a stem (a.svs and a.tif are two slides): then each is kept by its full name.
  const resultName = (name: string) => {
    const stem = slideStem(name)
    return listed.some((other) => other !== name && slideStem(other) === stem) ? name : stem
  }
  const resultDir = (name: string) => join(out, resultName(name))
  // The folder of a listed slide's result; a 404 until it is predicted. A result is the slide's
  // only when its summary names this slide (not another of its stem).
  const predictedDir = (name: string): string => {
    requireListed(name)
    const dir = resultDir(name)
    const summary = completeOutput(dir)
    if (!summary || basename(summary.slide) !== name)
      throw new HttpError(
        404,
        `${name} has not been predicted yet (POST /api/slides/${name}/predict)`,
      )
    if (!byModel(summary, options.fingerprint)) throw new HttpError(404, anotherModelsResult(name))
    return dir
  }
  // The results folder is kept between servers: another model's result is neither shown as this
  // model's nor replaced by it.
  const anotherModelsResult = (name: string) =>
    `The results folder holds ${name}'s result from another model; serve with --slide-results ` +
    'naming another folder to predict it with this one'
  const refuseAnotherModels = (name: string) => {
    const summary = completeOutput(resultDir(name))
    if (summary && basename(summary.slide) === name && !byModel(summary, options.fingerprint))
      throw new HttpError(409, anotherModelsResult(name))
  }

  const runJob = async (name: string, job: Job, controller: AbortController) => {
    if (controller.signal.aborted) return // cancelled while it waited
    job.status = 'running'
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(jobTimeoutMs)])
    let slide: OpenSlide | undefined
    try {
      slide = await slideOf(name)
      predicting.add(slide)
      await predictSlide(slide, slideModel(), {
        out,
        outName: resultName(name),
        name,
        slideMpp: options.slideMpp,
        signal,
        onProgress: (done, total) => Object.assign(job, { done, total }),
      })
      job.status = 'done'
    } catch (error) {
      if (controller.signal.aborted) {
        job.status = 'cancelled'
      } else {
        job.status = 'failed'
        job.error = signal.aborted
          ? `${name} was stopped after the server's limit of ${jobTimeoutMs / 60_000} minutes per slide`
          : hidePaths((error as Error).message)
      }
    } finally {
      controllers.delete(name)
      if (slide) {
        predicting.delete(slide)
        if (open.get(name) !== slide) slide.close() // evicted (or the server closed) meanwhile
      }
    }
  }

  app.get('/api/slides', async () => ({
    slides: names().map((name) => ({ name, job: jobs.get(name) ?? null })),
  }))

  app.get<{ Params: SlideParams }>(
    '/api/slides/:name',
    { schema: { params: SLIDE_PARAMS } },
    async (request) => {
      const { name } = request.params
      const slide = await slideOf(name)
      let mpp: number | null = null
      try {
        mpp = slideResolution(name, slide.properties, options.slideMpp).mpp
      } catch {
        mpp = null // shown as unknown; prediction says how to fix it
      }
      const vendor = slide.properties['openslide.vendor'] ?? null
      const power = objectivePower(slide.properties)
      return {
        name,
        deepZoom: deepZoomInfo(slide),
        levels: slide.levels,
        mpp,
        vendor,
        objectivePower: power,
        cautions: slideCautions(
          { mpp, vendor, objectivePower: power, mppGiven: options.slideMpp !== undefined },
          modelFacts,
        ),
        job: jobs.get(name) ?? null,
      }
    },
  )

  app.get<{ Params: DeepZoomParams }>(
    '/api/slides/:name/dz/:level/:tile',
    { schema: { params: DEEP_ZOOM_PARAMS } },
    async (request, reply) => {
      const { name, level, tile } = request.params
      const [col, row] = tile.slice(0, -'.jpeg'.length).split('_').map(Number) as [number, number]
      const slide = await slideOf(name)
      const read = deepZoomRead(slide, level, col, row)
      const key = `${name}/${level}/${col}_${row}`
      let jpeg = tiles.get(key)
      if (!jpeg) {
        const bytes = read.readWidth * read.readHeight * READ_BYTES_PER_PIXEL
        jpeg = await reads.read(key, bytes, () => deepZoomTile(slide, read))
        tiles.set(key, jpeg)
      }
      return reply.type('image/jpeg').header('cache-control', 'max-age=3600').send(jpeg)
    },
  )

  app.post<{ Params: SlideParams }>(
    '/api/slides/:name/predict',
    { schema: { params: SLIDE_PARAMS } },
    async (request, reply) => {
      const { name } = request.params
      const slide = await slideOf(name)
      const current = jobs.get(name)
      if (isActive(current)) return reply.code(202).send(current)
      refuseAnotherModels(name)
      // Refused now, not after a wait in the queue: a grid past the tile bound, or an overview
      // that would read a whole gigapixel level.
      slideTiling(slide, slideModel(), { name, slideMpp: options.slideMpp })
      checkThumbnailRead(name, slide.levels, thumbnailPlan(slide.levels, THUMBNAIL_SIDE).level)
      const queued = [...jobs.values()].filter((j) => j.status === 'queued').length
      if (queued >= SLIDE_LIMITS.queuedJobs)
        throw new BusyError(`${queued} slides are queued for prediction; try again later.`)
      const job: Job = { status: 'queued', done: 0, total: 0 }
      const controller = new AbortController()
      jobs.set(name, job)
      controllers.set(name, controller)
      queue = queue.then(() => runJob(name, job, controller))
      return reply.code(202).send(job)
    },
  )

  // Cancels a queued or running prediction; a running one stops after its batch in flight.
  app.delete<{ Params: SlideParams }>(
    '/api/slides/:name/predict',
    { schema: { params: SLIDE_PARAMS } },
    async (request) => {
      const { name } = request.params
      const job = jobs.get(name)
      const controller = controllers.get(name)
      if (!job || !controller || !isActive(job))
        throw new HttpError(409, `${name} has no prediction queued or running`)
      controller.abort()
      if (job.status === 'queued') job.status = 'cancelled'
      controllers.delete(name)
      return job
    },
  )

  app.get<{ Params: SlideParams }>(
    '/api/slides/:name/result',
    { schema: { params: SLIDE_PARAMS } },
    async (request) => {
      const { name } = request.params
      const { summary, grid, cells, geojson, detections } = readSlideResult(predictedDir(name))
      return {
        summary: { ...summary, slide: name, outDir: name },
        grid,
        cells: Array.from(cells, (p) => (Number.isNaN(p) ? null : p)),
        geojson,
        detections,
      }
    },
  )

  // The tumour contours of a predicted slide at another threshold (the viewer's slider).
  app.get<{ Params: SlideParams; Querystring: ContoursQuery }>(
    '/api/slides/:name/contours',
    { schema: { params: SLIDE_PARAMS, querystring: CONTOURS_QUERY } },
    async (request) => {
      const { grid, cells } = readSlideResult(predictedDir(request.params.name))
      return tumourGeoJson(cells, grid, request.query.threshold)
    },
  )

  // A result file, by name from a fixed list, as a download named after the slide.
  app.get<{ Params: ResultFileParams }>(
    '/api/slides/:name/files/:file',
    { schema: { params: RESULT_FILE_PARAMS } },
    async (request, reply) => {
      const { name, file } = request.params
      const path = join(predictedDir(name), file)
      const type = file.endsWith('.png')
        ? 'image/png'
        : file.endsWith('.csv')
          ? 'text/csv'
          : 'application/json'
      return reply
        .type(type)
        .header(
          'content-disposition',
          `attachment; filename="${encodeURIComponent(`${name}.${file}`)}"`,
        )
        .send(readFileSync(path))
    },
  )

  // The tile under level-0 point (x, y): its probability and Grad-CAM, queued in the batcher with
  // every other request's patches (a full queue is a 503, as for /api/predict).
  app.get<{ Params: SlideParams; Querystring: TileQuery }>(
    '/api/slides/:name/tile',
    { schema: { params: SLIDE_PARAMS, querystring: TILE_QUERY } },
    async (request) => {
      const { name } = request.params
      const query = request.query
      const slide = await slideOf(name)
      // Errors name the slide as the page knows it, not by its path on the server.
      const { scale, grid } = slideTiling(slide, slideModel(), { name, slideMpp: options.slideMpp })
      const tile = tileAtPoint(grid, query.x, query.y)
      if (!tile)
        throw new HttpError(
          400,
          `(${Math.round(query.x)}, ${Math.round(query.y)}) is outside the tiles of ${name}: click on the slide.`,
        )
      const images = await readTiles(slide, [tile], scale, size)
      const pixels = images.data() as Uint8Array // a copy, handed over to the model worker
      images.dispose()
      // The tile as the model sees it, beside its Grad-CAM.
      const plain = await encodePng(pixels, size, size)
      const answer = await batcher.submit({ pixels, explain: true })
      const png = await encodePng(answer.overlay as Uint8Array, size, size)
      return {
        x: tile.x,
        y: tile.y,
        size: Math.round(grid.tileSize0),
        probability: answer.probability,
        tile: `data:image/png;base64,${plain.toString('base64')}`,
        heatmap: `data:image/png;base64,${png.toString('base64')}`,
      }
    },
  )

  // The server is closing, its requests done: slide jobs are stopped (the running one after its
  // batch in flight) and awaited, then the slides, the cached tiles and the results go.
  app.addHook('onClose', async () => {
    for (const controller of controllers.values()) controller.abort()
    for (const job of jobs.values()) if (job.status === 'queued') job.status = 'cancelled'
    await queue
    open.clear()
    tiles.clear()
    if (kept === null) rmSync(out, { recursive: true, force: true })
  })
}
