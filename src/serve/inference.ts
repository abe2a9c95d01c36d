/**
 * The main thread's handle on the model worker: start it, send batches, get answers.
 * @module
 */
import type { ComputeRequest } from '../learn/precision.js'
import { Worker } from 'node:worker_threads'
import { errorFromMessage } from '../errors.js'
import type { RunConfig } from '../run/run-folder.js'
import type { Tta } from '../data/tta.js'
import type { Engine } from '../eval/predictor.js'

export interface WorkerSettings {
  run: string
  tta: Tta
  /** Grad-CAM layer (default: the last block). */
  layer?: string
  /** Engine for the probabilities (default: defaultEngine of the run); Grad-CAM is always libtorch. */
  engine?: Engine
  /** Precision and device of libtorch's model (default auto). */
  compute?: ComputeRequest
}

/** count patches of size x size x 3 uint8, row-major, one after another. */
export interface BatchJob {
  id: number
  pixels: Uint8Array
  count: number
  size: number
  /** Positions of the patches to explain with Grad-CAM. */
  explain: number[]
}

/** What the worker is asked: a batch, or the path of the run's model.onnx (exported if needed). */
export type WorkerRequest = ({ type: 'batch' } & BatchJob) | { type: 'onnx'; id: number }

export interface BatchAnswer {
  probabilities: Float32Array
  /** size x size x 3 overlays of the explained patches, one after another. */
  overlays: Uint8Array | null
}

/** The worker is gone (crashed or closed): the server cannot answer until it is restarted. */
export class WorkerStoppedError extends Error {}

export class ModelWorker {
  #next = 0
  #stopped: string | null = null
  readonly #waiting = new Map<
    number,
    { resolve: (answer: unknown) => void; reject: (e: Error) => void }
  >()

  private constructor(
    readonly config: RunConfig,
    private readonly worker: Worker,
  ) {
    worker.on('message', (message) => {
      const waiting = this.#waiting.get(message.id)
      if (!waiting) return
      this.#waiting.delete(message.id)
      if (message.type === 'result')
        waiting.resolve({ probabilities: message.probabilities, overlays: message.overlays })
      else if (message.type === 'onnx') waiting.resolve(message.path)
      else waiting.reject(errorFromMessage(message.error))
    })
    worker.on('exit', (code) => {
      this.#stopped = `The model worker stopped (exit code ${code}); restart the server.`
      for (const w of this.#waiting.values()) w.reject(new WorkerStoppedError(this.#stopped))
      this.#waiting.clear()
    })
  }

  /** Loads the run in a new worker; rejects with the reason when it cannot. */
  static start(settings: WorkerSettings): Promise<ModelWorker> {
    const worker = new Worker(new URL('./model-worker.js', import.meta.url), {
      workerData: settings,
    })
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        void worker.terminate()
        reject(error)
      }
      worker.once('message', (message) => {
        if (message.type === 'ready') resolve(new ModelWorker(message.config as RunConfig, worker))
        else fail(errorFromMessage(message.error))
      })
      worker.once('error', fail)
    })
  }

  /** Null while the worker runs, else why it does not. */
  get stopped(): string | null {
    return this.#stopped
  }

  predict(job: Omit<BatchJob, 'id'>): Promise<BatchAnswer> {
    return this.#request(
      (id) => ({ type: 'batch', ...job, id }),
      [job.pixels.buffer as ArrayBuffer],
    )
  }

  /**
   * The run's model.onnx, exported by the worker from its loaded model when missing or stale
   * (queued behind the batches before it).
   */
  onnxPath(): Promise<string> {
    return this.#request((id) => ({ type: 'onnx', id }))
  }

  #request<T>(message: (id: number) => WorkerRequest, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.#stopped) return Promise.reject(new WorkerStoppedError(this.#stopped))
    const id = this.#next++
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (answer: unknown) => void, reject })
      this.worker.postMessage(message(id), transfer)
    })
  }

  async close(): Promise<void> {
    await this.worker.terminate()
  }
}
