/**
 * The served model in a worker thread, so inference never blocks the server's event loop. It
 * loads the run once, then answers batches: probabilities for every patch, and Grad-CAM overlays
 * for the patches asked to be explained; and the run's model.onnx for the page, exported from
 * that same model when missing or stale. Probabilities come from the chosen engine (libtorch or
 * ONNX Runtime); Grad-CAM needs gradients and always runs on libtorch. Errors go back as { name, code, message }.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { errorToMessage } from '../errors.js'
import { explainPatches } from '../eval/explain.js'
import { loadRunModels } from '../run/load-run.js'
import type { RunConfig } from '../run/run-folder.js'
import { predictorFor, type PatchPredictor } from '../eval/predictor.js'
import { ensureRunOnnx } from '../export/export.js'
import type { PatchClassifier } from '../models/registry.js'
import { scope, tensor } from '../torch/index.js'
import type { BatchJob, WorkerRequest, WorkerSettings } from './inference.js'

/**
 * Probabilities (from the chosen engine) and overlays (Grad-CAM, always libtorch) of one batch;
 * every tensor made on the way is disposed, throw or not.
 */
async function answer(
  predictor: PatchPredictor,
  models: PatchClassifier[],
  config: RunConfig,
  settings: WorkerSettings,
  job: BatchJob,
) {
  const { count, size } = job
  const images = tensor(job.pixels, { shape: [count, size, size, 3] })
  try {
    const probabilities = await predictor.predict(images, settings.tta)
    let overlays: Uint8Array | null = null
    if (job.explain.length > 0) {
      overlays = scope(() => {
        const chosen = images.indexSelect(0, tensor(BigInt64Array.from(job.explain, BigInt)))
        const overlay = explainPatches(models, config, chosen, { layer: settings.layer })
        return overlay.contiguous().data() as Uint8Array
      })
    }
    return { probabilities, overlays }
  } finally {
    images.dispose()
  }
}

const port = parentPort
if (port) {
  const settings = workerData as WorkerSettings
  try {
    // An ensemble's members all load: probabilities average them, Grad-CAM averages their maps.
    const loaded = loadRunModels(settings.run)
    const { models, config } = loaded
    const predictor = await predictorFor(settings.run, loaded, settings.engine, settings.compute)
    port.postMessage({ type: 'ready', config })
    // One request at a time, in order (ONNX Runtime's answer is asynchronous).
    let queue = Promise.resolve()
    port.on('message', (request: WorkerRequest) => {
      queue = queue.then(() => reply(request))
    })
    const reply = async (request: WorkerRequest) => {
      try {
        if (request.type === 'onnx') {
          // Exported here, from the model already loaded: seconds the server's loop never waits.
          const path = ensureRunOnnx(settings.run, loaded)
          port.postMessage({ type: 'onnx', id: request.id, path })
          return
        }
        const { probabilities, overlays } = await answer(
          predictor,
          models,
          config,
          settings,
          request,
        )
        const transfer = [probabilities.buffer, ...(overlays ? [overlays.buffer] : [])]
        port.postMessage(
          { type: 'result', id: request.id, probabilities, overlays },
          transfer as ArrayBuffer[],
        )
      } catch (error) {
        port.postMessage({ type: 'error', id: request.id, error: errorToMessage(error) })
      }
    }
  } catch (error) {
    port.postMessage({ type: 'fatal', error: errorToMessage(error) })
  }
}
