/**
 * pcam bench serve: throughput and latency of pcam serve under 1, 8 and 64 concurrent clients,
 * with dynamic batching and with batches of one.
 * @module
 */
import { benchServe } from '../../bench/serve.js'
import { checkInteger, checkNumber } from '../../torch/index.js'
import type { Command } from '../command.js'
import {
  BATCHING_OPTIONS,
  COMPUTE_OPTIONS,
  computeOptions,
  ENGINE_OPTIONS,
  engineOption,
  integerList,
  RUN_FOLDER_OPTION,
} from '../shared-options.js'

export const benchServeCommand: Command = {
  name: 'bench serve',
  summary: 'Requests/s and p50/p99 latency of pcam serve at 1, 8 and 64 clients; batching vs none.',
  description:
    'Starts "pcam serve" in a child process on loopback and sends real patches (PNG bodies) from\n' +
    'the store, bounded per level by --requests and --seconds. Example:\n' +
    '  pcam bench serve --model runs/mobilenet_v1 --data runs/demo/store',
  options: {
    model: RUN_FOLDER_OPTION,
    data: { type: 'string', default: 'runs/demo/store', description: 'Store to take patches from' },
    clients: { type: 'string', default: '1,8,64', description: 'Concurrent clients per level' },
    requests: { type: 'number', default: 600, description: 'Requests per level at most' },
    seconds: { type: 'number', default: 20, description: 'Seconds per level at most' },
    ...BATCHING_OPTIONS,
    ...COMPUTE_OPTIONS,
    ...ENGINE_OPTIONS,
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  async run(values) {
    const clients = integerList(values.clients, '--clients')
    const json = values.json === true
    if (!json)
      console.log(
        'mode               clients  requests  failed     req/s   p50 ms   p99 ms  batch  server RSS',
      )
    const results = await benchServe({
      run: values.model as string,
      store: values.data as string,
      clients,
      requests: checkInteger(values.requests, '--requests', 1),
      secondsPerLevel: checkNumber(values.seconds, '--seconds', 1),
      maxBatch: checkInteger(values['max-batch'], '--max-batch', 1),
      maxWaitMs: checkNumber(values['max-wait-ms'], '--max-wait-ms', 0),
      compute: computeOptions(values),
      engine: engineOption(values),
      onLevel: (mode, l) => {
        if (json) return
        console.log(
          `${mode.padEnd(18)} ${String(l.clients).padStart(7)} ${String(l.requests).padStart(9)} ` +
            `${String(l.failed).padStart(7)} ${l.requestsPerSec.toFixed(1).padStart(9)} ` +
            `${l.p50Ms.toFixed(1).padStart(8)} ${l.p99Ms.toFixed(1).padStart(8)} ` +
            `${l.meanBatch.toFixed(1).padStart(6)} ${l.serverRssMiB.toFixed(0).padStart(7)} MiB`,
        )
      },
    })
    if (json) console.log(JSON.stringify(results))
  },
}
