/**
 * Starts train() in a worker thread and relays its progress; stop() asks it to checkpoint and end
 * after the current batch.
 * @module
 */
import { Worker } from 'node:worker_threads'
import { errorFromMessage } from '../errors.js'
import type { TrainConfig } from './train-config.js'
import type { TrainHooks, TrainResult } from './train.js'

export interface TrainingRun {
  result: Promise<TrainResult>
  stop(): void
}

export function startTraining(
  config: TrainConfig,
  // The stop request is this module's own (stop() below).
  hooks: Omit<TrainHooks, 'signal' | 'stopRequested'> = {},
): TrainingRun {
  const stopFlag = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(new URL('./train-worker.js', import.meta.url), {
    workerData: { config, stopFlag },
  })
  const result = new Promise<TrainResult>((resolve, reject) => {
    worker.on('message', (message) => {
      if (message.type === 'batch') hooks.onBatch?.(message.info)
      else if (message.type === 'epoch') hooks.onEpoch?.(message.record)
      else if (message.type === 'lr') hooks.onLrFound?.(message.lr)
      else if (message.type === 'resume') hooks.onResume?.()
      else if (message.type === 'member') hooks.onMember?.(message.info)
      else if (message.type === 'done') resolve(message.result)
      else if (message.type === 'error') reject(errorFromMessage(message.error))
    })
    worker.on('error', reject)
    worker.on('exit', (code) => {
      if (code !== 0) reject(new Error(`The training worker exited with code ${code}`))
    })
  })
  return { result, stop: () => Atomics.store(stopFlag, 0, 1) }
}
