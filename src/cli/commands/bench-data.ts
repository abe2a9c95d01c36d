/**
 * pcam bench data: prepare and loader throughput on real patches.
 * @module
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { benchData, type PrepareFigure } from '../../bench/data.js'
import { DataError } from '../../errors.js'
import { SHARED_DIR } from '../../paths.js'
import { checkInteger } from '../../torch/index.js'
import type { Command } from '../command.js'
import { MAX_BATCH_SIZE } from '../../data/loader.js'

export const benchDataCommand: Command = {
  name: 'bench data',
  summary: 'Measure prepare throughput (JPEG, TIFF), loader throughput and memory while preparing.',
  options: {
    jpeg: {
      type: 'string',
      default: join(SHARED_DIR, 'data', 'pcam-jpeg', 'train'),
      description: 'Folder of JPEG class folders',
    },
    tiff: {
      type: 'string',
      default: join(SHARED_DIR, 'data', 'kaggle-sample'),
      description: 'Kaggle-layout folder of TIFFs',
    },
    'batch-size': { type: 'number', default: 64, description: 'Loader batch size' },
    'loader-patches': {
      type: 'number',
      default: 6400,
      description: 'Patches per loader measurement',
    },
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  async run(values) {
    for (const key of ['jpeg', 'tiff'] as const) {
      if (!existsSync(values[key] as string)) {
        throw new DataError(`--${key} ${values[key]} does not exist; point it at real patches.`)
      }
    }
    const result = await benchData({
      jpeg: values.jpeg as string,
      tiff: values.tiff as string,
      batchSize: checkInteger(values['batch-size'], '--batch-size', 1, MAX_BATCH_SIZE),
      loaderPatches: checkInteger(values['loader-patches'], '--loader-patches', 1),
      onProgress: (message) => process.stderr.write(`${message}\n`),
    })
    if (values.json === true) {
      console.log(JSON.stringify(result))
      return
    }
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`
    const prep = (label: string, f: PrepareFigure) =>
      `${label.padEnd(16)}${f.patchesPerSec.toFixed(0).padStart(8)} patches/s  (${f.patches} patches; ` +
      `RSS ${mib(f.rssAtQuarter)} at 25%, peak ${mib(f.rssPeak)})`
    console.log(prep('prepare JPEG', result.prepareJpeg))
    console.log(prep('prepare TIFF', result.prepareTiff))
    for (const l of result.loader)
      console.log(
        `loader ${l.augment.padEnd(40)}${l.patchesPerSec.toFixed(0).padStart(8)} patches/s`,
      )
  },
}
