/**
 * Runs train() in a worker thread, so the main thread stays free for progress, Ctrl-C and
 * anything else; messages carry progress out. A stop request comes in through shared memory:
 * the batch loop is synchronous, so a message would only be read at the end of the epoch.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { errorToMessage } from '../errors.js'
import { type TrainConfig } from './train-config.js'
import { train } from './train.js'

const port = parentPort
if (port) {
  const { config, stopFlag } = workerData as { config: TrainConfig; stopFlag: Int32Array }
  train(config, {
    stopRequested: () => Atomics.load(stopFlag, 0) !== 0,
    onBatch: (info) => port.postMessage({ type: 'batch', info }),
    onEpoch: (record) => port.postMessage({ type: 'epoch', record }),
    onLrFound: (lr) => port.postMessage({ type: 'lr', lr }),
    onResume: () => port.postMessage({ type: 'resume' }),
    onMember: (info) => port.postMessage({ type: 'member', info }),
  }).then(
    (result) => {
      port.postMessage({ type: 'done', result })
      port.close()
    },
    (error: Error) => {
      port.postMessage({ type: 'error', error: errorToMessage(error) })
      port.close()
    },
  )
}
