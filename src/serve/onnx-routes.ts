/**
 * What the web page needs to predict inside the browser: onnxruntime-web's ES module and
 * WebAssembly (src/export/ort-web.ts) under /ort/, and the run's model.onnx (exported once
 * into the run folder, on the first request). Only the files listed here are reachable.
 * @module
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { ensureRunOnnx } from '../export/export.js'
import { ORT_WEB_FILES, ortWebDir } from '../export/ort-web.js'

export function registerOnnxRoutes(app: FastifyInstance, run: string): void {
  const dir = ortWebDir()
  // Read on first request (14 MB of WebAssembly): a server whose page never predicts in the
  // browser does not hold them.
  const bodies = new Map<string, Buffer>()
  for (const [name, type] of Object.entries(ORT_WEB_FILES))
    app.get(`/ort/${name}`, async (_request, reply) => {
      if (!bodies.has(name)) bodies.set(name, readFileSync(join(dir, name)))
      return reply.type(type).send(bodies.get(name))
    })
  let model: Buffer | null = null
  app.get('/model.onnx', async (_request, reply) => {
    model ??= readFileSync(ensureRunOnnx(run))
    return reply.type('application/octet-stream').send(model)
  })
}
