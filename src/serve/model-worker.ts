/**
 * The served model in a worker thread, so inference never blocks the server's event loop. It
 * loads the run once, then answers batches: probabilities for every patch, and Grad-CAM overlays
 * for the patches asked to be explained.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { explainPatches } from '../eval/explain.js'
import { inputOptions, loadRun, predictImages } from '../eval/predict.js'
import { noGrad, scope, tensor } from '../torch/index.js'
import type { BatchJob, WorkerSettings } from './inference.js'

const port = parentPort
if (port) {
  const settings = workerData as WorkerSettings
  try {
    const { model, config } = loadRun(settings.run)
    const input = inputOptions(config)
    port.postMessage({ type: 'ready', config })
    port.on('message', (job: BatchJob) => {
      try {
        const { count, size } = job
        const images = tensor(job.pixels, { shape: [count, size, size, 3] })
        const probabilities = noGrad(() =>
          predictImages(model, images, { ...input, tta: settings.tta }),
        )
        let overlays: Uint8Array | null = null
        if (job.explain.length > 0) {
          overlays = scope(() => {
            const chosen = images.indexSelect(0, tensor(BigInt64Array.from(job.explain, BigInt)))
            const overlay = explainPatches(model, config, chosen, { layer: settings.layer })
            return overlay.contiguous().data() as Uint8Array
          })
        }
        images.dispose()
        const transfer = [probabilities.buffer, ...(overlays ? [overlays.buffer] : [])]
        port.postMessage(
          { type: 'result', id: job.id, probabilities, overlays },
          transfer as ArrayBuffer[],
        )
      } catch (error) {
        port.postMessage({ type: 'error', id: job.id, message: (error as Error).message })
      }
    })
  } catch (error) {
    port.postMessage({ type: 'fatal', message: (error as Error).message })
  }
}
