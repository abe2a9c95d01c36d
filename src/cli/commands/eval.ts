/**
 * pcam eval: metrics of a trained run on a store's split, optionally with test-time augmentation;
 * charts, top losses and predictions into <run>/eval/<split>[-tta]/, and the run's report.
 * @module
 */
import { evaluateToFolder } from '../../eval/artifacts.js'
import type { Evaluation } from '../../eval/evaluate.js'
import { parseThresholdRule } from '../../metrics/metrics.js'
import { describeTta } from '../../data/tta.js'
import { writeReport } from '../../eval/report.js'
import type { SplitName } from '../../data/sources/source.js'
import { ValidationError } from '../../errors.js'
import { checkInteger } from '../../torch/index.js'
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

function printEvaluation(e: Evaluation): void {
  const f = (v: number) => v.toFixed(4)
  const from = e.thresholdFrom === 'run' ? "the run's" : 'chosen on this split'
  console.log(
    `${e.patches} ${e.split} patches${e.tta ? `, ${describeTta(e.tta)}` : ''}, threshold ${f(e.threshold)} (${from})`,
  )
  console.log(`ROC AUC      ${f(e.rocAuc)}  (95% CI ${f(e.rocAucLow)}-${f(e.rocAucHigh)}, DeLong)`)
  console.log(`PR AUC (AP)  ${f(e.averagePrecision)}`)
  console.log(`accuracy     ${f(e.accuracy)}   error rate ${f(e.errorRate)}`)
  console.log(`sensitivity  ${f(e.sensitivity)}   specificity ${f(e.specificity)}`)
  console.log(`precision    ${f(e.precision)}   F1 ${f(e.f1)}`)
  console.log(`log loss     ${f(e.logLoss)}   Brier ${f(e.brier)}   ECE ${f(e.ece)}`)
  console.log(`confusion    TP ${e.tp}  FP ${e.fp}  TN ${e.tn}  FN ${e.fn}`)
  console.log(`split        ${e.splitMethod}`)
  console.log(`speed        ${e.patchesPerSec.toFixed(0)} patches/s`)
  if (e.members) printMembers(e)
}

/** An ensemble's members beside the ensemble, one row each. */
function printMembers(e: Evaluation): void {
  const f = (v: number) => v.toFixed(4).padStart(11)
  console.log(
    `\n${'model'.padEnd(12)}${['ROC AUC', 'accuracy', 'sensitivity', 'specificity', 'log loss', 'threshold'].map((h) => h.padStart(11)).join('')}`,
  )
  for (const r of [...(e.members ?? []), { ...e, member: 'ensemble' }])
    console.log(
      `${r.member.padEnd(12)}${[r.rocAuc, r.accuracy, r.sensitivity, r.specificity, r.logLoss, r.threshold].map(f).join('')}`,
    )
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'ROC AUC (95% CI), accuracy, sensitivity, specificity, calibration, charts and report.',
  description:
    'Writes metrics.json, predictions.csv, ROC / PR / confusion / calibration charts (SVG, PNG)\n' +
    'and top-losses.png (Grad-CAM overlays) into <run>/eval/<split>[-tta]/ (or --out), then\n' +
    'rewrites <run>/report.html.\n' +
    'Example: pcam eval --model runs/mobilenet_v1 --data stores/pcam --split test --tta',
  options: {
    model: RUN_FOLDER_OPTION,
    data: { type: 'string', required: true, value: 'store', description: 'Patch store' },
    split: {
      type: 'string',
      default: 'valid',
      description: 'Split to evaluate: valid, test or train',
    },
    ...TTA_OPTIONS,
    ...ENGINE_OPTIONS,
    ...COMPUTE_OPTIONS,
    threshold: {
      type: 'string',
      description:
        "Decision threshold; default: the run's own (chosen on its valid split). A number, or youden / sensitivity:0.95 chosen on the evaluated split itself (optimistic)",
    },
    out: {
      type: 'string',
      description: 'Folder for the results (default <run>/eval/<split>[-tta])',
    },
    'top-losses': {
      type: 'number',
      default: 16,
      description: 'How many top losses to draw with Grad-CAM (0: none)',
    },
    layer: {
      type: 'string',
      description: 'Grad-CAM layer for the top losses (default: last block)',
    },
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  async run(values) {
    const split = values.split as SplitName
    if (!['train', 'valid', 'test'].includes(split))
      throw new ValidationError(`Expected train, valid or test for --split but received "${split}"`)
    const topLosses = checkInteger(values['top-losses'], '--top-losses', 0)
    const tta = ttaOption(values)
    const progress = createProgress('predict', 0)
    const { result, dir, files } = await evaluateToFolder({
      run: values.model as string,
      store: values.data as string,
      split,
      tta,
      engine: engineOption(values),
      compute: computeOptions(values),
      threshold:
        values.threshold === undefined ? null : parseThresholdRule(String(values.threshold)),
      onProgress: (done, total) => progress.update(done, total),
      dir: values.out as string | undefined,
      topLosses,
      layer: values.layer as string | undefined,
    })
    progress.finish()
    const report = await writeReport(values.model as string)
    if (values.json === true) {
      console.log(JSON.stringify({ ...result.evaluation, files, report }))
      return
    }
    printEvaluation(result.evaluation)
    console.log(`results      ${dir}`)
    console.log(`report       ${report}`)
  },
}
