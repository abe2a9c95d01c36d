/**
 * The slide viewer's routes for pcam serve --slides <folder>: the slides of that folder (names
 * only), Deep Zoom tiles read on demand (cached, bounded), slide prediction queued one slide at a
 * time with the model in the model worker, its result (heatmap grid, contours) and a tile's
 * probability with Grad-CAM.
 * @module
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyPluginAsync } from 'fastify'
import { encodePng } from '../data/decode.js'
import { DataError } from '../errors.js'
import { runPatchSize } from '../run/run-folder.js'
import { slideModelOf } from '../slide/batch.js'
import { deepZoomInfo, deepZoomTile } from '../slide/deep-zoom.js'
import {
  predictSlide,
  readSlideResult,
  slideStem,
  type SlideModel,
} from '../slide/predict-slide.js'
import { readTiles } from '../slide/pipeline.js'
import { slideResolution } from '../slide/resolution.js'
import { slideTiling, tileAtPoint } from '../slide/grid.js'
import { listSlides, OpenSlide } from '../torch/openslide.js'
import {
  DEEP_ZOOM_PARAMS,
  SLIDE_PARAMS,
  TILE_QUERY,
  type DeepZoomParams,
  type SlideParams,
  type TileQuery,
} from './schemas.js'
import { HttpError } from './http-errors.js'
import type { ModelWorker } from './inference.js'
import { Lru } from './lru.js'

export interface SlideRoutesOptions {
  /** The folder of whole slides; only the slides listed in it are served. */
  folder: string
  /** Predicts the tiles and explains a clicked one. */
  worker: ModelWorker
}

/** Deep Zoom tiles kept in memory (JPEG, about 15 KB each). */
const TILE_CACHE = 512
/** Slides kept open at once. */
const OPEN_SLIDES = 8

interface Job {
  status: 'queued' | 'running' | 'done' | 'failed'
  done: number
  total: number
  error?: string
}

/** The slide API under /api/slides (the viewer page is among the page's files). */
export const slideRoutes: FastifyPluginAsync<SlideRoutesOptions> = async (
  app,
  { folder, worker },
) => {
  const config = worker.config
  if (!existsSync(folder)) throw new DataError(`Slide folder not found: ${folder}`)
  const out = mkdtempSync(join(tmpdir(), 'pcam-serve-slides-'))
  const size = runPatchSize(config)
  // The folder's slides, listed again only when the page asks for the list or a name is new.
  let listed: string[] = []
  const names = () => (listed = listSlides(folder))
  names()
  // A slide being predicted is closed when the job ends, not when the cache lets go of it.
  const predicting = new Set<OpenSlide>()
  const open = new Lru<OpenSlide>(OPEN_SLIDES, (s) => {
    if (!predicting.has(s)) s.close()
  })
  const tiles = new Lru<Buffer>(TILE_CACHE)
  const jobs = new Map<string, Job>()
  let queue: Promise<unknown> = Promise.resolve()

  // Only names listed in the folder resolve: "../x" or any other path is a 404.
  const slideOf = (name: string): OpenSlide => {
    if (!listed.includes(name) && !names().includes(name))
      throw new HttpError(404, `No slide named ${name}`)
    let slide = open.get(name)
    if (!slide) {
      slide = OpenSlide.open(join(folder, name))
      open.set(name, slide)
    }
    return slide
  }
  const slideModel = (): SlideModel =>
    slideModelOf(config, async (images) => {
      const count = images.shape[0] as number
      const pixels = images.data() as Uint8Array // a copy, handed over to the model worker
      return (await worker.predict({ pixels, count, size, explain: [] })).probabilities
    })
  const resultDir = (name: string) => join(out, slideStem(name))

  app.get('/api/slides', async () => ({
    slides: names().map((name) => ({ name, job: jobs.get(name) ?? null })),
  }))

  app.get<{ Params: SlideParams }>(
    '/api/slides/:name',
    { schema: { params: SLIDE_PARAMS } },
    async (request) => {
      const { name } = request.params
      const slide = slideOf(name)
      let mpp: number | null = null
      try {
        mpp = slideResolution(name, slide.properties).mpp
      } catch {
        mpp = null // shown as unknown; prediction says how to fix it
      }
      return {
        name,
        deepZoom: deepZoomInfo(slide),
        levels: slide.levels,
        mpp,
        vendor: slide.properties['openslide.vendor'] ?? null,
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
      const key = `${name}/${level}/${tile}`
      let jpeg = tiles.get(key)
      if (!jpeg) {
        jpeg = await deepZoomTile(slideOf(name), level, col, row)
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
      slideOf(name)
      const current = jobs.get(name)
      if (current && (current.status === 'queued' || current.status === 'running'))
        return reply.code(202).send(current)
      const job: Job = { status: 'queued', done: 0, total: 0 }
      jobs.set(name, job)
      queue = queue.then(async () => {
        job.status = 'running'
        let slide: OpenSlide | undefined
        try {
          slide = slideOf(name)
          predicting.add(slide)
          await predictSlide(slide, slideModel(), {
            out,
            onProgress: (done, total) => Object.assign(job, { done, total }),
          })
          job.status = 'done'
        } catch (error) {
          job.status = 'failed'
          job.error = (error as Error).message
        } finally {
          if (slide) {
            predicting.delete(slide)
            if (open.get(name) !== slide) slide.close() // evicted (or the server closed) meanwhile
          }
        }
      })
      return reply.code(202).send(job)
    },
  )

  app.get<{ Params: SlideParams }>(
    '/api/slides/:name/result',
    { schema: { params: SLIDE_PARAMS } },
    async (request) => {
      const { name } = request.params
      slideOf(name)
      const dir = resultDir(name)
      if (!existsSync(join(dir, 'summary.json')))
        throw new HttpError(
          404,
          `${name} has not been predicted yet (POST /api/slides/${name}/predict)`,
        )
      const { summary, grid, cells, geojson } = readSlideResult(dir)
      return {
        summary,
        grid,
        cells: Array.from(cells, (p) => (Number.isNaN(p) ? null : p)),
        geojson,
      }
    },
  )

  // The tile under level-0 point (x, y): its probability and Grad-CAM, from the model worker.
  app.get<{ Params: SlideParams; Querystring: TileQuery }>(
    '/api/slides/:name/tile',
    { schema: { params: SLIDE_PARAMS, querystring: TILE_QUERY } },
    async (request) => {
      const { name } = request.params
      const query = request.query
      const slide = slideOf(name)
      // Errors name the slide as the page knows it, not by its path on the server.
      const { scale, grid } = slideTiling(slide, slideModel(), { name })
      const tile = tileAtPoint(grid, query.x, query.y)
      if (!tile) throw new HttpError(400, `No tile at ${query.x},${query.y} of ${name}`)
      const images = await readTiles(slide, [tile], scale, size)
      const pixels = images.data() as Uint8Array // a copy, handed over to the model worker
      images.dispose()
      const answer = await worker.predict({ pixels, count: 1, size, explain: [0] })
      const png = await encodePng(answer.overlays as Uint8Array, size, size)
      return {
        x: tile.x,
        y: tile.y,
        size: Math.round(grid.tileSize0),
        probability: answer.probabilities[0],
        heatmap: `data:image/png;base64,${png.toString('base64')}`,
      }
    },
  )

  // The server has closed, its requests done: the slides go (except one still being predicted,
  // which its job closes), the cached tiles and the slides' results with them.
  app.addHook('onClose', async () => {
    open.clear()
    tiles.clear()
    rmSync(out, { recursive: true, force: true })
  })
}
