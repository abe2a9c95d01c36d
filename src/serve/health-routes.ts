/**
 * Health and monitoring: GET /healthz (503 with the reason once the model worker has stopped)
 * and GET /metrics in Prometheus' text format (metrics.ts).
 * @module
 */
import type { FastifyPluginAsync } from 'fastify'
import type { ModelWorker } from './inference.js'
import type { ServerMetrics } from './metrics.js'
import { allowOnly } from './method-not-allowed.js'
import type { PatchBatcher } from './patch-batcher.js'

export interface HealthRoutesOptions {
  worker: ModelWorker
  /** Its queue length is part of the health answer. */
  batcher: PatchBatcher
  metrics: ServerMetrics
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, options) => {
  const { worker, batcher, metrics } = options
  app.get('/healthz', async (_request, reply) =>
    worker.stopped
      ? reply.code(503).send({ status: 'down', reason: worker.stopped })
      : { status: 'ok', queue: batcher.queueLength },
  )
  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.contentType).send(await metrics.render()),
  )
  allowOnly(app, '/healthz', 'GET')
  allowOnly(app, '/metrics', 'GET')
}
