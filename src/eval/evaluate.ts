/**
 * `pcam eval`: a run's model on a store's split, with or without test-time augmentation; every
 * metric of binaryReport, at the threshold the caller picks.
 * @module
 */
import { PatchStore, UNLABELLED } from '../data/store.js'
import type { SplitName } from '../data/sources/source.js'
import { DataError } from '../errors.js'
import {
  binaryReport,
  chooseThreshold,
  type BinaryReport,
  type ThresholdRule,
} from '../metrics/metrics.js'
import type { PatchClassifier } from '../models/registry.js'
import { predictStoreWith, type PatchPredictor } from './predictor.js'
import { inputOptions, predictStore } from './predict.js'
import { loadRun } from '../run/load-run.js'
import { runThreshold, type RunConfig } from '../run/run-folder.js'
import type { Tta } from '../data/tta.js'

export interface EvaluateOptions {
  run: string
  store: string
  split: SplitName
  tta: Tta
  /** null: the run's own threshold. */
  threshold: ThresholdRule | null
  onProgress?: (done: number, total: number) => void
}

export interface Evaluation extends BinaryReport {
  split: SplitName
  patches: number
  tta: Tta
  seconds: number
  patchesPerSec: number
  splitMethod: string
  /** Where the threshold came from: the run (chosen on its valid split) or this split's data. */
  thresholdFrom: 'run' | 'this split'
  /** The inference engine that computed the probabilities (absent: libtorch). */
  engine?: string
}

/** The figures, and the predictions behind them (store indices, probabilities, labels). */
export interface EvaluationResult {
  evaluation: Evaluation
  indices: number[]
  probabilities: Float32Array
  labels: Float64Array
}

/** Evaluates a run on a store: opens both, predicts, closes them. */
export function evaluate(options: EvaluateOptions): EvaluationResult {
  const { model, config } = loadRun(options.run)
  try {
    const store = PatchStore.open(options.store)
    try {
      return evaluateOpen(model, config, store, options)
    } finally {
      store.dispose()
    }
  } finally {
    model.dispose()
  }
}

/** The same on a model and a store already open (they stay open). */
export function evaluateOpen(
  model: PatchClassifier,
  config: RunConfig,
  store: PatchStore,
  options: Omit<EvaluateOptions, 'run'>,
): EvaluationResult {
  const indices = evaluatedIndices(config, store, options)
  const started = performance.now()
  const probabilities = predictStore(model, store, indices, {
    ...inputOptions(config),
    tta: options.tta,
    onProgress: options.onProgress,
  })
  return summarize(config, store, options, indices, probabilities, started)
}

/** The labelled patches of the split, after checking the store suits the model. */
function evaluatedIndices(
  config: RunConfig,
  store: PatchStore,
  options: Omit<EvaluateOptions, 'run'>,
): number[] {
  if (store.meta.height !== config.inputSize && store.meta.height < config.inputSize / 4) {
    throw new DataError(
      `${options.store} holds ${store.meta.height}px patches; the model was trained on ${config.inputSize}px.`,
    )
  }
  const indices = store.indicesOf(options.split).filter((i) => store.label(i) !== UNLABELLED)
  if (indices.length === 0)
    throw new DataError(`${options.store} has no labelled ${options.split} patches to evaluate.`)
  return indices
}

/** The same with any engine (a PatchPredictor: libtorch or ONNX Runtime). */
export async function evaluateWith(
  predictor: PatchPredictor,
  store: PatchStore,
  options: Omit<EvaluateOptions, 'run'>,
): Promise<EvaluationResult> {
  const indices = evaluatedIndices(predictor.config, store, options)
  const started = performance.now()
  const probabilities = await predictStoreWith(predictor, store, indices, {
    tta: options.tta,
    onProgress: options.onProgress,
  })
  const result = summarize(predictor.config, store, options, indices, probabilities, started)
  result.evaluation.engine = predictor.engine
  return result
}

function summarize(
  config: RunConfig,
  store: PatchStore,
  options: Omit<EvaluateOptions, 'run'>,
  indices: number[],
  probabilities: Float32Array,
  started: number,
): EvaluationResult {
  const seconds = (performance.now() - started) / 1000
  const labels = Float64Array.from(indices, (i) => store.label(i))
  const threshold =
    options.threshold === null
      ? runThreshold(config)
      : chooseThreshold(probabilities, labels, options.threshold)
  const evaluation: Evaluation = {
    ...binaryReport(probabilities, labels, threshold),
    split: options.split,
    patches: indices.length,
    tta: options.tta,
    seconds,
    patchesPerSec: indices.length / seconds,
    splitMethod: store.meta.splitMethod,
    thresholdFrom: options.threshold === null ? 'run' : 'this split',
  }
  return { evaluation, indices, probabilities, labels }
}
