/**
 * pcam serve: the HTTP API and web page for a trained run, until SIGTERM or Ctrl-C, which let
 * the requests in flight finish (within a bound) before the process ends. A server that cannot
 * start stops everything it started, so the command exits at once.
 * @module
 */
import { createServer, listen, SERVE_DEFAULTS } from '../../serve/server.js'
import { ValidationError } from '../../errors.js'
import { checkInteger, checkNumber } from '../../torch/index.js'
import type { Command } from '../command.js'
import {
  MODEL_MPP_OPTION,
  modelMppOption,
  BATCHING_OPTIONS,
  COMPUTE_OPTIONS,
  computeOptions,
  ENGINE_OPTIONS,
  engineOption,
  RUN_FOLDER_OPTION,
  TTA_OPTIONS,
  ttaOption,
} from '../shared-options.js'
import { MAX_BATCH_SIZE } from '../../data/loader.js'

export const serveCommand: Command = {
  name: 'serve',
  summary: 'HTTP API and web page: probabilities and Grad-CAM heatmaps for uploaded patches.',
  description:
    'POST /api/predict (multipart files, or one PNG/JPEG/TIFF body; ?explain=1 for heatmaps,\n' +
    '?resize=1 to accept patches of another size), GET /api/model, GET /healthz, GET /metrics\n' +
    '(Prometheus), and the web page at /. Concurrent requests are batched for the model.\n' +
    'Example: pcam serve --model runs/mobilenet_v1 --port 8080',
  options: {
    model: RUN_FOLDER_OPTION,
    host: {
      type: 'string',
      default: '127.0.0.1',
      description: 'Address to listen on (0.0.0.0 exposes the server to the network)',
    },
    port: { type: 'number', default: 8080, description: 'Port (0: any free port)' },
    ...TTA_OPTIONS,
    ...ENGINE_OPTIONS,
    ...COMPUTE_OPTIONS,
    layer: { type: 'string', description: 'Grad-CAM layer for ?explain=1 (default: last block)' },
    ...BATCHING_OPTIONS,
    'max-queue': {
      type: 'number',
      default: SERVE_DEFAULTS.maxQueue,
      description: 'Images waiting before requests get 503 (Retry-After)',
    },
    'body-limit-mb': {
      type: 'number',
      default: SERVE_DEFAULTS.bodyLimit / 1024 / 1024,
      description: 'Largest request body in MiB (413 beyond)',
    },
    'max-files': {
      type: 'number',
      default: SERVE_DEFAULTS.maxFiles,
      description: 'Most images in one request',
    },
    log: { type: 'boolean', description: 'Log every request (JSON lines)' },
    slides: {
      type: 'string',
      description: 'Folder of whole slides for the slide viewer at /slides',
    },
    'model-mpp': MODEL_MPP_OPTION,
    'slide-mpp': {
      type: 'number',
      description:
        'µm/px of the slides, used in place of what they record (needed for slides that record none)',
    },
    'slide-results': {
      type: 'string',
      description:
        'Folder that keeps the slides\' results after the server stops; the --out of "slide predict" on the same slides shows in the viewer (default: <slide folder>-out beside the slide folder, e.g. slides-out for slides/, which is slide predict\'s default --out when run from the folder above; a temporary folder when that cannot be written). Results of another model there are neither shown nor replaced',
    },
  },
  async run(values) {
    const port = checkInteger(values.port, '--port', 0)
    if (port > 65535) throw new ValidationError(`Expected a port up to 65535 but received ${port}`)
    const server = await createServer({
      run: values.model as string,
      tta: ttaOption(values),
      engine: engineOption(values),
      compute: computeOptions(values),
      layer: values.layer as string | undefined,
      maxBatch: checkInteger(values['max-batch'], '--max-batch', 1, MAX_BATCH_SIZE),
      maxWaitMs: checkNumber(values['max-wait-ms'], '--max-wait-ms', 0),
      // 65,536 waiting 96 px patches are 1.8 GB; more is a typo, not a setting.
      maxQueue: checkInteger(values['max-queue'], '--max-queue', 1, 65_536),
      bodyLimit: Math.round(
        checkNumber(values['body-limit-mb'], '--body-limit-mb', 0, 1024) * 1024 * 1024,
      ),
      maxFiles: checkInteger(values['max-files'], '--max-files', 1, MAX_BATCH_SIZE),
      logger: values.log === true,
      slides: values.slides as string | undefined,
      modelMpp: modelMppOption(values),
      slideResults: values['slide-results'] as string | undefined,
      slideMpp:
        values['slide-mpp'] === undefined
          ? undefined
          : checkNumber(values['slide-mpp'], '--slide-mpp', 0.01, 100),
    })
    const address = await listen(server, values.host as string, port)
    console.log(`pcam serving ${values.model} at ${address} (Ctrl-C to stop)`)
    if (values.slides !== undefined) console.log(`Slide viewer: ${address}/slides`)
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        console.log(`${signal}: finishing the requests in flight...`)
        server.close().then(resolve, (error) => {
          console.error(error)
          resolve()
        })
      }
      process.once('SIGTERM', () => stop('SIGTERM'))
      process.once('SIGINT', () => stop('SIGINT'))
    })
    console.log('Stopped.')
  },
}
