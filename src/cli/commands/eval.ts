/**
 * pcam eval: metrics of a trained run on a store's split, optionally with test-time augmentation.
 * @module
 */
import { evaluate } from '../../eval/evaluate.js'
import type { ThresholdRule } from '../../eval/metrics.js'
import type { SplitName } from '../../data/sources/source.js'
import { ValidationError } from '../../errors.js'
import type { Command } from '../command.js'
import { createProgress } from '../progress.js'

function thresholdRule(value: string): ThresholdRule {
  if (value === 'youden') return { kind: 'youden' }
  const sensitivity = /^sensitivity:(0?\.\d+|1)$/.exec(value)
  if (sensitivity) return { kind: 'sensitivity', target: Number(sensitivity[1]) }
  const fixed = Number(value)
  if (value !== '' && fixed >= 0 && fixed <= 1) return { kind: 'fixed', value: fixed }
  throw new ValidationError(
    `Expected a number in [0, 1], "youden" or "sensitivity:0.95" for --threshold but received "${value}"`,
  )
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'ROC AUC (95% CI), accuracy, sensitivity, specificity, calibration of a run on a store.',
  options: {
    model: { type: 'string', description: 'Run folder from "pcam train" (required)' },
    data: { type: 'string', description: 'Patch store (required)' },
    split: {
      type: 'string',
      default: 'valid',
      description: 'Split to evaluate: valid, test or train',
    },
    tta: { type: 'boolean', description: 'Average over the 8 symmetries of each patch' },
    threshold: {
      type: 'string',
      default: '0.5',
      description: 'Decision threshold: a number, youden, or sensitivity:0.95',
    },
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  run(values) {
    if (typeof values.model !== 'string' || typeof values.data !== 'string') {
      throw new ValidationError('Give --model <run folder> and --data <store>')
    }
    const split = values.split as SplitName
    if (!['train', 'valid', 'test'].includes(split))
      throw new ValidationError(`Expected train, valid or test for --split but received "${split}"`)
    const progress = createProgress('predict', 0)
    const result = evaluate({
      run: values.model,
      store: values.data,
      split,
      tta: values.tta === true,
      threshold: thresholdRule(String(values.threshold)),
      onProgress: (done, total) => progress.update(done, total),
    })
    progress.finish()
    if (values.json === true) {
      console.log(JSON.stringify(result))
      return
    }
    const f = (v: number) => v.toFixed(4)
    console.log(
      `${result.patches} ${result.split} patches${result.tta ? ', 8-way TTA' : ''}, threshold ${f(result.threshold)}`,
    )
    console.log(
      `ROC AUC      ${f(result.rocAuc)}  (95% CI ${f(result.rocAucLow)}-${f(result.rocAucHigh)}, DeLong)`,
    )
    console.log(`PR AUC (AP)  ${f(result.averagePrecision)}`)
    console.log(`accuracy     ${f(result.accuracy)}   error rate ${f(result.errorRate)}`)
    console.log(`sensitivity  ${f(result.sensitivity)}   specificity ${f(result.specificity)}`)
    console.log(`precision    ${f(result.precision)}   F1 ${f(result.f1)}`)
    console.log(
      `log loss     ${f(result.logLoss)}   Brier ${f(result.brier)}   ECE ${f(result.ece)}`,
    )
    console.log(`confusion    TP ${result.tp}  FP ${result.fp}  TN ${result.tn}  FN ${result.fn}`)
    console.log(`split        ${result.splitMethod}`)
    console.log(`speed        ${result.patchesPerSec.toFixed(0)} patches/s`)
  },
}
