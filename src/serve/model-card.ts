/**
 * The model card `GET /api/model` answers and the web page shows: what the run is, what it was
 * trained on, its threshold, how it scored (the run's evaluations, a ROC curve for drawing).
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { displayClassNames } from '../data/grid.js'
import { rocCurve } from '../eval/metrics.js'
import { runThreshold, type RunConfig, type Tta } from '../eval/predict.js'

/** The model card: what the run is, what it was trained on, how it scored. */
export function modelCard(run: string, config: RunConfig, tta: Tta) {
  const evaluations: Record<string, unknown>[] = []
  let roc: { fpr: number; tpr: number }[] | null = null
  const evalRoot = join(run, 'eval')
  if (existsSync(evalRoot)) {
    for (const name of readdirSync(evalRoot).sort()) {
      const metricsPath = join(evalRoot, name, 'metrics.json')
      if (!existsSync(metricsPath)) continue
      const m = JSON.parse(readFileSync(metricsPath, 'utf8'))
      evaluations.push({
        name,
        split: m.split,
        tta: m.tta,
        patches: m.patches,
        rocAuc: m.rocAuc,
        rocAucLow: m.rocAucLow,
        rocAucHigh: m.rocAucHigh,
        accuracy: m.accuracy,
        sensitivity: m.sensitivity,
        specificity: m.specificity,
      })
      // The ROC curve of the first evaluation with predictions, thinned for the page.
      const predictions = join(evalRoot, name, 'predictions.csv')
      if (!roc && existsSync(predictions)) {
        const rows = readFileSync(predictions, 'utf8').trim().split('\n').slice(1)
        const labels = rows.map((r) => Number(r.split(',')[1]))
        const scores = rows.map((r) => Number(r.split(',')[2]))
        const curve = rocCurve(scores, labels)
        const step = Math.max(1, Math.floor(curve.fpr.length / 200))
        roc = curve.fpr
          .map((fpr, k) => ({ fpr, tpr: curve.tpr[k] as number }))
          .filter((_, k) => k % step === 0 || k === curve.fpr.length - 1)
      }
    }
  }
  return {
    arch: config.model.arch,
    head: config.model.head,
    classes: displayClassNames(config.classes),
    patchSize: config.patchSize ?? config.inputSize,
    inputSize: config.inputSize,
    threshold: runThreshold(config),
    thresholdRule: config.threshold?.rule ?? '0.5',
    tta,
    training: config.data ?? null,
    validation: config.validation ?? null,
    evaluations,
    roc,
  }
}
