/**
 * The model card `GET /api/model` answers and the web page shows: what the run is, what it was
 * trained on (by name: the machine's paths stay private), its threshold, how it scored (the run's
 * evaluations, a ROC curve for drawing).
 * @module
 */
import { existsSync } from 'node:fs'
import { join, win32 } from 'node:path'
import { displayClassNames } from '../data/grid.js'
import { savedEvaluations, savedPredictions } from './artifacts.js'
import { rocCurve } from '../metrics/metrics.js'
import { runMpp, runPatchSize, runThreshold, type RunConfig } from '../run/run-folder.js'
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
    // An ensemble's members on the same split (the figures above are the ensemble's).
    ...(m.members
      ? {
          members: m.members.map((x) => ({
            member: x.member,
            rocAuc: x.rocAuc,
            accuracy: x.accuracy,
          })),
        }
      : {}),
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
    /** µm/px of the training patches, when the run records it. */
    mpp: runMpp(config) ?? null,
    inputSize: config.inputSize,
    threshold: runThreshold(config),
    thresholdRule: config.threshold?.rule ?? '0.5',
    tta,
    training: config.data ? trainingData(config.data) : null,
    validation: config.validation ?? null,
    ensemble: config.ensemble ? { members: config.ensemble.members.length } : null,
    evaluations,
    roc,
    /** The evaluation the ROC curve is of. */
    rocEvaluation: first?.name ?? null,
  }
}

/** The training data by name: the machine's folders above the store and sources stay private. */
function trainingData(data: NonNullable<RunConfig['data']>) {
  const { kind, description, paths } = data.source
  // win32's basename splits at "\" and "/" both: the run may have been trained on Windows.
  const name = (path: string) => win32.basename(path)
  return {
    store: name(data.store),
    source: { kind, description, paths: paths.map(name) },
    splitMethod: data.splitMethod,
  }
}

/**
 * config.json as a report may show it: the training data by name (as above), and any setting
 * that is a path (pretrained weights) cut to its last part. A report is made to be shared.
 */
export function shareableConfig(config: RunConfig): RunConfig {
  const recipe = Object.fromEntries(
    Object.entries(config.recipe).map(([key, value]) => [
      key,
      typeof value === 'string' && /[\\/]/.test(value) ? win32.basename(value) : value,
    ]),
  ) as RunConfig['recipe']
  return {
    ...config,
    recipe,
    ...(config.data ? { data: { ...config.data, ...trainingData(config.data) } } : {}),
  }
}
