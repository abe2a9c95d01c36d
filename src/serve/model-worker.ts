/**
 * The served model in a worker thread, so inference never blocks the server's event loop. It
 * loads the run once, then answers batches: probabilities for every patch, and Grad-CAM overlays
 * for the patches asked to be explained. Errors go back as { name, code, message }.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { errorToMessage } from '../errors.js'
import { explainPatches } from '../eval/explain.js'
import { inputOptions, loadRun, predictImages, type RunConfig } from '../eval/predict.js'
import type { PatchClassifier } from '../models/registry.js'
import { noGrad, scope, tensor } from '../torch/index.js'
import type { BatchJob, WorkerSettings } from './inference.js'

/** Probabilities and overlays of one batch; every tensor made on the way is disposed, throw or not. */
function answer(
  model: PatchClassifier,
  config: RunConfig,
  settings: WorkerSettings,
  job: BatchJob,
) {
  return scope(() => {
    const { count, size } = job
    const images = tensor(job.pixels, { shape: [count, size, size, 3] })
    const probabilities = noGrad(() =>
      predictImages(model, images, { ...inputOptions(config), tta: settings.tta }),
    )
    let overlays: Uint8Array | null = null
    if (job.explain.length > 0) {
      const chosen = images.indexSelect(0, tensor(BigInt64Array.from(job.explain, BigInt)))
      const overlay = explainPatches(model, config, chosen, { layer: settings.layer })
      overlays = overlay.contiguous().data() as Uint8Array
    }
    return { probabilities, overlays }
  })
}

const port = parentPort
if (port) {
  const settings = workerData as WorkerSettings
  try {
    const { model, config } = loadRun(settings.run)
    port.postMessage({ type: 'ready', config })
    port.on('message', (job: BatchJob) => {
      try {
        const { probabilities, overlays } = answer(model, config, settings, job)
        const transfer = [probabilities.buffer, ...(overlays ? [overlays.buffer] : [])]
        port.postMessage(
          { type: 'result', id: job.id, probabilities, overlays },
          transfer as ArrayBuffer[],
        )
      } catch (error) {
        port.postMessage({ type: 'error', id: job.id, error: errorToMessage(error) })
      }
    })
  } catch (error) {
    port.postMessage({ type: 'fatal', error: errorToMessage(error) })
  }
}
