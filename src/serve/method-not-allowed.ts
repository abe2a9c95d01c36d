/**
 * Wrong methods on known paths: 405 with an Allow header, where Fastify alone would answer 404 as
 * if the path did not exist.
 * @module
 */
import type { FastifyInstance } from 'fastify'

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const

/** Answers every method on `url` but `allowed` with 405 and `Allow: <allowed>`. */
export function allowOnly(
  app: FastifyInstance,
  url: string,
  allowed: (typeof METHODS)[number],
): void {
  app.route({
    method: METHODS.filter((m) => m !== allowed),
    url,
    handler: async (_request, reply) =>
      reply
        .code(405)
        .header('Allow', allowed)
        .send({ error: `Use ${allowed} on ${url}` }),
  })
}
