/**
 * pcam predict: probabilities for new patches as CSV (Kaggle's submission format or plain).
 * @module
 */
import { writeFileSync } from 'node:fs'
import { kaggleCsv, plainCsv, predictFiles } from '../../eval/predict-files.js'
import { ValidationError } from '../../errors.js'
import { checkNumber } from '../../torch/index.js'
import type { Command } from '../command.js'
import {
  COMPUTE_OPTIONS,
  computeOptions,
  ENGINE_OPTIONS,
  engineOption,
  RUN_FOLDER_OPTION,
  TTA_OPTIONS,
  ttaOption,
} from '../shared-options.js'
import { createProgress } from '../progress.js'

export const predictCommand: Command = {
  name: 'predict',
  args: '[<image...>]',
  summary: 'Probabilities for a folder, zip, PCam HDF5, store or image files, written as CSV.',
  description:
    'Examples:\n' +
    '  pcam predict --model runs/mobilenet_v1 --data kaggle/test --out submission.csv --format kaggle\n' +
    '  pcam predict --model runs/mobilenet_v1 patch1.png patch2.tif --out predictions.csv',
  options: {
    model: RUN_FOLDER_OPTION,
    data: {
      type: 'string',
      description: 'Patches: a folder, a .zip, PCam HDF5 files or a store (or give image files)',
    },
    out: { type: 'string', default: 'predictions.csv', description: 'CSV file to write' },
    format: {
      type: 'string',
      default: 'plain',
      description: 'kaggle (id,label = probability) or plain',
    },
    threshold: {
      type: 'number',
      description:
        "Threshold for the plain format's predicted label; default: the run's own (chosen on its valid split)",
    },
    ...TTA_OPTIONS,
    ...ENGINE_OPTIONS,
    ...COMPUTE_OPTIONS,
  },
  async run(values, positionals) {
    const sources = [...(typeof values.data === 'string' ? [values.data] : []), ...positionals]
    if (sources.length === 0)
      throw new ValidationError('Give --data <patches> (or image files) to predict')
    if (values.format !== 'kaggle' && values.format !== 'plain') {
      throw new ValidationError(
        `Expected kaggle or plain for --format but received "${values.format}"`,
      )
    }
    const chosen =
      values.threshold === undefined ? null : checkNumber(values.threshold, '--threshold', 0, 1)
    const progress = createProgress('predict', 0)
    const { predictions, threshold } = await predictFiles({
      run: values.model as string,
      sources,
      tta: ttaOption(values),
      engine: engineOption(values),
      compute: computeOptions(values),
      onProgress: (done, total) => progress.update(done, total),
    })
    progress.finish()
    writeFileSync(
      values.out as string,
      values.format === 'kaggle'
        ? kaggleCsv(predictions)
        : plainCsv(predictions, chosen ?? threshold),
    )
    console.log(`Wrote ${predictions.length} predictions to ${values.out}`)
  },
}
