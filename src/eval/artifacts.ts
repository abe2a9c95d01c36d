/**
 * What `pcam eval` leaves in a folder (by default <run>/eval/<split>[-tta]/): metrics.json, predictions.csv, the ROC, PR, confusion and
 * calibration charts (SVG and PNG) and the top-losses picture with Grad-CAM overlays.
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readCsv, writeCsv } from '../data/csv.js'
import { displayClassNames } from '../data/grid.js'
import { PatchStore } from '../data/store.js'
import { DataError } from '../errors.js'
import { calibrationChart, confusionChart, prChart, rocChart } from './charts.js'
import type { PatchClassifier } from '../models/registry.js'
import {
  evaluateWith,
  type EvaluateOptions,
  type Evaluation,
  type EvaluationResult,
} from './evaluate.js'
import {
  calibrationCurve,
  confusionMatrix,
  mostConfused,
  precisionRecallCurve,
  rocCurve,
} from '../metrics/metrics.js'
import { loadRunModels } from '../run/load-run.js'
import type { RunConfig } from '../run/run-folder.js'
import type { Tta } from '../data/tta.js'
import { predictorFor, type Engine, type PatchPredictor } from './predictor.js'
import type { ComputeRequest } from '../learn/precision.js'
import { writeChart } from './render.js'
import { topLosses, topLossesPicture } from './top-losses.js'

export interface EvaluationFiles {
  dir: string
  files: string[]
}

/** What metrics.json holds: the Evaluation, the class names and the most-confused pairs. */
export type SavedEvaluation = Evaluation & {
  classes: string[]
  mostConfused: { actual: string; predicted: string; count: number }[]
}

/** The evaluations a run folder holds, by folder name (valid, valid-tta, ...), sorted. */
export function savedEvaluations(
  run: string,
): { name: string; dir: string; metrics: SavedEvaluation }[] {
  const root = join(run, 'eval')
  if (!existsSync(root)) return []
  return readdirSync(root)
    .sort()
    .filter((name) => existsSync(join(root, name, 'metrics.json')))
    .map((name) => ({
      name,
      dir: join(root, name),
      metrics: JSON.parse(
        readFileSync(join(root, name, 'metrics.json'), 'utf8'),
      ) as SavedEvaluation,
    }))
}

/** The labels and probabilities of an evaluation folder's predictions.csv. */
export function savedPredictions(dir: string): { labels: number[]; probabilities: number[] } {
  const path = join(dir, 'predictions.csv')
  const { header, rows } = readCsv(readFileSync(path, 'utf8'), path)
  const column = (name: string) => {
    const k = header.indexOf(name)
    if (k < 0) throw new DataError(`${path} has no "${name}" column; run "pcam eval" again.`)
    return rows.map((r) => Number(r.fields[k]))
  }
  return { labels: column('label'), probabilities: column('probability') }
}

/** predictions.csv: one row per evaluated patch (id, label, probability). */
export function predictionsCsv(
  ids: string[],
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
): string {
  return writeCsv(
    ['id', 'label', 'probability'],
    ids.map((id, k) => [id, labels[k] as number, probabilities[k] as number]),
  )
}

export interface DrawingOptions {
  /** How many top losses to draw (0: none). */
  topLosses?: number
  /** Grad-CAM layer for the top losses. */
  layer?: string
}

/** Where an evaluation goes by default: <run>/eval/<split>, -tta for all symmetries, -tta-0246 for some. */
export function evaluationDir(run: string, split: string, tta: Tta): string {
  const suffix = tta === false ? '' : tta === true ? '-tta' : `-tta-${tta.join('')}`
  return join(run, 'eval', `${split}${suffix}`)
}

/**
 * `pcam eval`: opens the run and the store once, evaluates, and writes the folder (default
 * evaluationDir); returns the figures and the files.
 */
export async function evaluateToFolder(
  options: EvaluateOptions &
    DrawingOptions & { dir?: string; engine?: Engine; compute?: ComputeRequest },
): Promise<EvaluationFiles & { result: EvaluationResult }> {
  const loaded = loadRunModels(options.run)
  const { models, config } = loaded
  let store: PatchStore | undefined
  let predictor: PatchPredictor | undefined
  try {
    store = PatchStore.open(options.store)
    // Top losses' Grad-CAM needs libtorch's models; the probabilities come from the chosen engine.
    predictor = await predictorFor(options.run, loaded, options.engine, options.compute)
    const result = await evaluateWith(predictor, store, options)
    const dir = options.dir ?? evaluationDir(options.run, options.split, options.tta)
    const files = await writeEvaluation({ ...options, dir, models, config, store, result })
    return { dir, files, result }
  } finally {
    predictor?.dispose()
    for (const model of models) model.dispose()
    store?.dispose()
  }
}

/** Writes an evaluation's files with the model and store it was made with (left open). */
async function writeEvaluation(
  options: DrawingOptions & {
    dir: string
    models: PatchClassifier[]
    config: RunConfig
    store: PatchStore
    result: EvaluationResult
  },
): Promise<string[]> {
  const { dir, result, models, config, store } = options
  const { evaluation: e, probabilities, labels, indices } = result
  await mkdir(dir, { recursive: true })
  const files: string[] = []
  const names = displayClassNames(config.classes)
  const predicted = Array.from(probabilities, (p) => (p >= e.threshold ? 1 : 0))
  const matrix = confusionMatrix(labels, predicted, 2)
  const summary: SavedEvaluation = {
    ...e,
    classes: names,
    mostConfused: mostConfused(matrix, names),
  }
  await writeFile(join(dir, 'metrics.json'), `${JSON.stringify(summary, null, 2)}\n`)
  const ids = indices.map((i) => store.meta.ids[i] as string)
  await writeFile(join(dir, 'predictions.csv'), predictionsCsv(ids, labels, probabilities))
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
      model: models,
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
  return files
}
