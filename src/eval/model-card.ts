/**
 * The model card `GET /api/model` answers and the web page shows: what the run is, what it was
 * trained on (by name: the machine's paths stay private), its threshold, how it scored (the run's
 * evaluations, a ROC curve for drawing).
 * @module
 */
import { existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import { displayClassNames } from '../data/grid.js'
import { savedEvaluations, savedPredictions } from './artifacts.js'
import { rocCurve } from '../metrics/metrics.js'
import { runPatchSize, runThreshold, type RunConfig } from '../run/run-folder.js'
import type { Tta } from '../data/tta.js'

/** The model card: what the run is, what it was trained on, how it scored. */
export function modelCard(run: string, config: RunConfig, tta: Tta) {
  const saved = savedEvaluations(run)
  const evaluations = saved.map(({ name, metrics: m }) => ({
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
  }))
  // The ROC curve of the first evaluation, thinned for the page.
  let roc: { fpr: number; tpr: number }[] | null = null
  const first = saved.find((e) => existsSync(join(e.dir, 'predictions.csv')))
  if (first) {
    const { labels, probabilities } = savedPredictions(first.dir)
    const curve = rocCurve(probabilities, labels)
    const step = Math.max(1, Math.floor(curve.fpr.length / 200))
    roc = curve.fpr
      .map((fpr, k) => ({ fpr, tpr: curve.tpr[k] as number }))
      .filter((_, k) => k % step === 0 || k === curve.fpr.length - 1)
  }
  return {
    arch: config.model.arch,
    head: config.model.head,
    classes: displayClassNames(config.classes),
    patchSize: runPatchSize(config),
    inputSize: config.inputSize,
    threshold: runThreshold(config),
    thresholdRule: config.threshold?.rule ?? '0.5',
    tta,
    training: config.data ? withoutPaths(config.data) : null,
    validation: config.validation ?? null,
    evaluations,
    roc,
  }
}

// An absolute path: a slash at the start of a word, up to a space, comma or bracket.
const ABSOLUTE_PATH = /(?<=^|[\s(])\/[^\s,;()]+/g

/** The same data with every absolute path in its strings cut down to the last name. */
function withoutPaths<T>(value: T): T {
  if (typeof value === 'string') return value.replace(ABSOLUTE_PATH, (path) => basename(path)) as T
  if (Array.isArray(value)) return value.map(withoutPaths) as T
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutPaths(v)])) as T
  return value
}
