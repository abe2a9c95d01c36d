/**
 * The patch API: GET /api/model (the model card) and POST /api/predict (images in; probability,
 * label at the run's threshold and, with ?explain=1, a Grad-CAM heatmap out), each image through
 * the patch batcher, so that concurrent requests share the model's batches.
 * @module
 */
import type { FastifyPluginAsync } from 'fastify'
import { encodePng } from '../data/decode.js'
import { displayClassNames } from '../data/grid.js'
import type { Tta } from '../data/tta.js'
import { modelCard } from '../eval/model-card.js'
import { runPatchSize, runThreshold, type RunConfig } from '../run/run-folder.js'
import { HttpError } from './http-errors.js'
import type { ServerMetrics } from './metrics.js'
import { allowOnly } from './method-not-allowed.js'
import type { PatchBatcher } from './patch-batcher.js'
import { PREDICT_QUERY, switchOn, type PredictQuery } from './schemas.js'
import { readUploads, toPatch, type Upload } from './uploads.js'

export interface PredictRoutesOptions {
  /** The run folder, whose evaluations the model card shows. */
  run: string
  config: RunConfig
  tta: Tta
  batcher: PatchBatcher
  /** Counts the images predicted. */
  metrics: ServerMetrics
  /** Largest request body in bytes, all files together. */
  bodyLimit: number
}

export const predictRoutes: FastifyPluginAsync<PredictRoutesOptions> = async (app, options) => {
  const { config, tta, batcher, metrics, bodyLimit } = options
  const size = runPatchSize(config)
  const threshold = runThreshold(config)
  const classes = displayClassNames(config.classes)
  const card = modelCard(options.run, config, tta)

  app.get('/api/model', async () => card)
  app.post<{ Querystring: PredictQuery }>(
    '/api/predict',
    { schema: { querystring: PREDICT_QUERY } },
    async (request, reply) => {
      const explain = switchOn(request.query.explain)
      const uploads = await readUploads(request, bodyLimit)
      if (uploads.length === 0)
        throw new HttpError(
          400,
          'Send one or more images: multipart files, or one PNG/JPEG/TIFF as the body.',
        )
      const patches = await decodeAll(uploads, size, switchOn(request.query.resize))
      const answers = await Promise.all(
        batcher.submitAll(patches.map((pixels) => ({ pixels, explain }))),
      )
      metrics.predicted(answers.length)
      const results = await Promise.all(
        answers.map(async (answer, k) => {
          const predicted = answer.probability >= threshold ? 1 : 0
          const result: Record<string, unknown> = {
            name: uploads[k]!.name,
            probability: answer.probability,
            predicted,
            label: classes[predicted],
          }
          if (answer.overlay) result.heatmap = await heatmapUrl(answer.overlay, size)
          return result
        }),
      )
      return reply.send({ threshold, tta, results })
    },
  )
  allowOnly(app, '/api/predict', 'POST')
  allowOnly(app, '/api/model', 'GET')
}

/**
 * The uploads as patches, decoded side by side; a refusal names the first bad file in the
 * request's order, not whichever decode happened to fail first.
 */
async function decodeAll(uploads: Upload[], size: number, resize: boolean): Promise<Uint8Array[]> {
  const decoded = await Promise.allSettled(uploads.map((u) => toPatch(u, size, resize)))
  const refused = decoded.find((d) => d.status === 'rejected')
  if (refused) throw refused.reason
  return decoded.map((d) => (d as PromiseFulfilledResult<Uint8Array>).value)
}

/** A Grad-CAM overlay as a PNG data URL, which the page shows as it is. */
async function heatmapUrl(overlay: Uint8Array, size: number): Promise<string> {
  const png = await encodePng(overlay, size, size)
  return `data:image/png;base64,${png.toString('base64')}`
}
