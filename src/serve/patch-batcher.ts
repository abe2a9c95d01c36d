/**
 * The server's one batcher: uploaded patches from many requests become one batch for the model
 * worker, and each comes back with its probability and, when asked, its Grad-CAM overlay.
 * @module
 */
import { runPatchSize } from '../run/run-folder.js'
import { DynamicBatcher } from './batcher.js'
import type { ModelWorker } from './inference.js'

/** One patch (size x size x 3 uint8) and whether to explain it. */
export interface PatchJob {
  pixels: Uint8Array
  explain: boolean
}

export interface PatchAnswer {
  probability: number
  /** size x size x 3 Grad-CAM overlay, for a patch that asked for one. */
  overlay: Uint8Array | null
}

export type PatchBatcher = DynamicBatcher<PatchJob, PatchAnswer>

export interface PatchBatcherOptions {
  maxBatch: number
  maxWaitMs: number
  maxQueue: number
  onBatch: (size: number) => void
}

/** A batcher that runs its batches through the worker's model. */
export function patchBatcher(worker: ModelWorker, options: PatchBatcherOptions): PatchBatcher {
  const size = runPatchSize(worker.config)
  const patch = size * size * 3
  return new DynamicBatcher<PatchJob, PatchAnswer>({
    ...options,
    run: async (jobs) => {
      const pixels = new Uint8Array(jobs.length * patch)
      jobs.forEach((job, k) => pixels.set(job.pixels, k * patch))
      const explain = jobs.flatMap((job, k) => (job.explain ? [k] : []))
      const answer = await worker.predict({ pixels, count: jobs.length, size, explain })
      return jobs.map((_, k) => {
        const at = explain.indexOf(k)
        return {
          probability: answer.probabilities[k] as number,
          overlay:
            at >= 0 && answer.overlays ? answer.overlays.slice(at * patch, (at + 1) * patch) : null,
        }
      })
    },
  })
}
