/**
 * The served model in a worker thread, so inference never blocks the server's event loop. It
 * loads the run once, then answers batches: probabilities for every patch, and Grad-CAM overlays
 * for the patches asked to be explained. Probabilities come from the chosen engine (libtorch or
 * ONNX Runtime); Grad-CAM needs gradients and always runs on libtorch. Errors go back as { name, code, message }.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { errorToMessage } from '../errors.js'
import { explainPatches } from '../eval/explain.js'
import { loadRun } from '../run/load-run.js'
import type { RunConfig } from '../run/run-folder.js'
import { LibtorchPredictor, openPredictor, type PatchPredictor } from '../eval/predictor.js'
import type { PatchClassifier } from '../models/registry.js'
import { scope, tensor } from '../torch/index.js'
import type { BatchJob, WorkerSettings } from './inference.js'

/**
 * Probabilities (from the chosen engine) and overlays (Grad-CAM, always libtorch) of one batch;
 * every tensor made on the way is disposed, throw or not.
 */
async function answer(
  predictor: PatchPredictor,
  model: PatchClassifier,
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
        const overlay = explainPatches(model, config, chosen, { layer: settings.layer })
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
    const { model, config } = loadRun(settings.run)
    const engine = settings.engine ?? 'libtorch'
    const predictor =
      engine === 'libtorch'
        ? new LibtorchPredictor(model, config)
        : await openPredictor(settings.run, engine)
    port.postMessage({ type: 'ready', config })
    // One batch at a time, in order (ONNX Runtime's answer is asynchronous).
    let queue = Promise.resolve()
    port.on('message', (job: BatchJob) => {
      queue = queue.then(() => reply(job))
    })
    const reply = async (job: BatchJob) => {
      try {
        const { probabilities, overlays } = await answer(predictor, model, config, settings, job)
        const transfer = [probabilities.buffer, ...(overlays ? [overlays.buffer] : [])]
        port.postMessage(
          { type: 'result', id: job.id, probabilities, overlays },
          transfer as ArrayBuffer[],
        )
      } catch (error) {
        port.postMessage({ type: 'error', id: job.id, error: errorToMessage(error) })
      }
    }
  } catch (error) {
    port.postMessage({ type: 'fatal', error: errorToMessage(error) })
  }
}
