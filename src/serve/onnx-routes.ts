/**
 * What the web page needs to predict inside the browser: onnxruntime-web's ES module and
 * WebAssembly (src/export/ort-web.ts) under /ort/, and the run's model.onnx (exported once
 * into the run folder, on the first request). Only the files listed here are reachable.
 * @module
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyPluginAsync } from 'fastify'
import { ORT_WEB_FILES, ortWebDir } from '../export/ort-web.js'

/** The promise of `read()`, made once and kept; made again after a failure. */
function memo<T>(read: () => Promise<T>): () => Promise<T> {
  let kept: Promise<T> | null = null
  return () =>
    (kept ??= read().catch((error: unknown) => {
      kept = null
      throw error
    }))
}

export interface OnnxRoutesOptions {
  /**
   * The run's model.onnx (the model worker exports it, off the server's event loop, when it is
   * missing or stale).
   */
  onnxPath: () => Promise<string>
}

/** GET /ort/<file> (onnxruntime-web) and GET /model.onnx. */
export const onnxRoutes: FastifyPluginAsync<OnnxRoutesOptions> = async (app, { onnxPath }) => {
  const dir = ortWebDir()
  // Read on first request (14 MB of WebAssembly): a server whose page never predicts in the
  // browser does not hold them.
  for (const [name, type] of Object.entries(ORT_WEB_FILES)) {
    const body = memo(() => readFile(join(dir, name)))
    app.get(`/ort/${name}`, async (_request, reply) => reply.type(type).send(await body()))
  }
  const model = memo(async () => readFile(await onnxPath()))
  app.get('/model.onnx', async (_request, reply) =>
    reply.type('application/octet-stream').send(await model()),
  )
}
