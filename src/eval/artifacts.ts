/**
 * What `pcam eval` leaves in a folder: metrics.json, predictions.csv, the ROC, PR, confusion and
 * calibration charts (SVG and PNG) and the top-losses picture with Grad-CAM overlays.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { displayClassNames } from '../data/grid.js'
import { PatchStore } from '../data/store.js'
import { calibrationChart, confusionChart, prChart, rocChart } from './charts.js'
import type { EvaluationResult } from './evaluate.js'
import {
  calibrationCurve,
  confusionMatrix,
  mostConfused,
  precisionRecallCurve,
  rocCurve,
} from './metrics.js'
import { loadRun } from './predict.js'
import { writeChart } from './render.js'
import { topLosses, topLossesPicture } from './top-losses.js'

export interface EvaluationFiles {
  dir: string
  files: string[]
}

export async function writeEvaluation(options: {
  dir: string
  run: string
  store: string
  result: EvaluationResult
  /** How many top losses to draw (0: none). */
  topLosses?: number
  layer?: string
}): Promise<EvaluationFiles> {
  const { dir, result } = options
  const { evaluation: e, probabilities, labels, indices } = result
  await mkdir(dir, { recursive: true })
  const { model, config } = loadRun(options.run)
  const store = PatchStore.open(options.store)
  const files: string[] = []
  try {
    const names = displayClassNames(config.classes)
    const predicted = Array.from(probabilities, (p) => (p >= e.threshold ? 1 : 0))
    const matrix = confusionMatrix(labels, predicted, 2)
    const summary = { ...e, classes: names, mostConfused: mostConfused(matrix, names) }
    await writeFile(join(dir, 'metrics.json'), `${JSON.stringify(summary, null, 2)}\n`)
    const rows = indices.map((i, k) => `${store.meta.ids[i]},${labels[k]},${probabilities[k]}`)
    await writeFile(
      join(dir, 'predictions.csv'),
      ['id,label,probability', ...rows].join('\n') + '\n',
    )
    files.push(join(dir, 'metrics.json'), join(dir, 'predictions.csv'))

    const at = {
      threshold: e.threshold,
      sensitivity: e.sensitivity,
      specificity: e.specificity,
      precision: e.precision,
    }
    const prevalence = (e.tp + e.fn) / e.patches
    const charts = {
      roc: rocChart(
        rocCurve(probabilities, labels),
        { value: e.rocAuc, low: e.rocAucLow, high: e.rocAucHigh },
        at,
      ),
      pr: prChart(precisionRecallCurve(probabilities, labels), e.averagePrecision, prevalence, at),
      confusion: confusionChart(matrix, names),
      calibration: calibrationChart(calibrationCurve(probabilities, labels), e.ece),
    }
    for (const [name, spec] of Object.entries(charts)) {
      const written = await writeChart(spec, join(dir, name))
      files.push(written.svg, written.png)
    }

    const k = options.topLosses ?? 16
    if (k > 0) {
      const png = await topLossesPicture({
        model,
        config,
        store,
        items: topLosses(probabilities, labels, k),
        storeIndex: (item) => indices[item.position] as number,
        threshold: e.threshold,
        layer: options.layer,
      })
      await writeFile(join(dir, 'top-losses.png'), png)
      files.push(join(dir, 'top-losses.png'))
    }
  } finally {
    model.dispose()
    store.dispose()
  }
  return { dir, files }
}
