/**
 * What the web page needs to predict inside the browser: onnxruntime-web's ES module and
 * WebAssembly from node_modules (no CDN) under /ort/, and the run's model.onnx (exported once
 * into the run folder, on the first request). Only the files listed here are reachable.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { ensureRunOnnx } from '../export/export.js'

/** The files of onnxruntime-web that a plain <script type=module> import needs (WebAssembly CPU). */
export const ORT_WEB_FILES: Record<string, string> = {
  'ort.wasm.min.mjs': 'text/javascript; charset=utf-8',
  'ort-wasm-simd-threaded.mjs': 'text/javascript; charset=utf-8',
  'ort-wasm-simd-threaded.wasm': 'application/wasm',
}

/** node_modules/onnxruntime-web/dist, wherever npm put it. */
export function ortWebDir(): string {
  const require = createRequire(import.meta.url)
  const dir = dirname(require.resolve('onnxruntime-web')) // its main file lies in dist/
  for (const file of Object.keys(ORT_WEB_FILES))
    if (!existsSync(join(dir, file)))
      throw new Error(`${join(dir, file)} is missing: reinstall pcam's npm packages (npm ci).`)
  return dir
}

export function registerOnnxRoutes(app: FastifyInstance, run: string): void {
  const dir = ortWebDir()
  const files = new Map(
    Object.entries(ORT_WEB_FILES).map(([name, type]) => [
      name,
      { type, body: readFileSync(join(dir, name)) },
    ]),
  )
  for (const [name, file] of files)
    app.get(`/ort/${name}`, async (_request, reply) => reply.type(file.type).send(file.body))
  let model: Buffer | null = null
  app.get('/model.onnx', async (_request, reply) => {
    model ??= readFileSync(ensureRunOnnx(run))
    return reply.type('application/octet-stream').send(model)
  })
}
