/**
 * pcam lr-find: the learning-rate finder on a store, with the same model options as train.
 * @module
 */
import { mkdirSync } from 'node:fs'
import { plotLrFind } from '../../eval/lr-find-plot.js'
import { saveLrFind } from '../../learn/lr-find.js'
import { findLearningRate } from '../../recipe/train.js'
import type { Command } from '../command.js'
import { TRAIN_OPTIONS, trainConfigFrom } from './train.js'

// The options that change what the sweep sees: data, model, weights, batches, regularisation.
const LR_FIND_OPTIONS: Command['options'] = Object.fromEntries(
  [
    'data',
    'recipe',
    'out',
    'arch',
    'head',
    'pretrained',
    'size',
    'batch-size',
    'freeze-epochs',
    'train-bn',
    'wd',
    'wd-skip-norm',
    'seed',
    'precision',
    'bf16',
    'device',
    'augment',
    'json',
  ].map((name) => [name, TRAIN_OPTIONS[name]!]),
)
LR_FIND_OPTIONS['freeze-epochs'] = {
  ...TRAIN_OPTIONS['freeze-epochs']!,
  description: 'With pretrained weights and more than 0: sweep the head only, as train starts',
}
LR_FIND_OPTIONS.out = {
  type: 'string',
  description: 'Folder for the curve and plot (default runs/<arch>)',
}

export const lrFindCommand: Command = {
  name: 'lr-find',
  summary: 'Sweep the learning rate over ~100 batches and suggest one for "pcam train --lr".',
  description:
    'The rate grows exponentially from 1e-7 to 10 while the smoothed loss is recorded; the sweep\n' +
    'stops when the loss diverges. The suggestion is where the loss falls fastest. The curve is\n' +
    'written to <out>/lr-find.csv and .json, and plotted to <out>/lr-find.svg and .png.\n' +
    'Weights are left untouched.',
  options: LR_FIND_OPTIONS,
  async run(values, _positionals, given) {
    // What lr-find has no use for (epochs, rates, stopping rules) keeps train's defaults.
    const config = await trainConfigFrom(values, given)
    const result = await findLearningRate(config)
    mkdirSync(config.out, { recursive: true })
    const files = [
      ...(await saveLrFind(config.out, result)),
      ...(await plotLrFind(config.out, result)),
    ]
    if (values.json === true) {
      console.log(
        JSON.stringify({ suggestion: result.suggestion, minimumTenth: result.minimumTenth }),
      )
      return
    }
    console.log(`Suggested learning rate: ${result.suggestion.toExponential(2)} (steepest descent)`)
    console.log(`Minimum loss / 10:       ${result.minimumTenth.toExponential(2)}`)
    console.log(`Curve: ${files.join(', ')}`)
  },
}
