/**
 * `pcam eval`: a run's model on a store's split, with or without test-time augmentation; every
 * metric of binaryReport, at the threshold the caller picks.
 * @module
 */
import type { ComputeRequest } from '../learn/precision.js'
import { PatchStore, UNLABELLED } from '../data/store.js'
import type { SplitName } from '../data/sources/source.js'
import { DataError } from '../errors.js'
import {
  binaryReport,
  chooseThreshold,
  type BinaryReport,
  type ThresholdRule,
} from '../metrics/metrics.js'
import {
  EnsemblePredictor,
  meanOf,
  openPredictor,
  predictStoreWith,
  type Engine,
  type PatchPredictor,
} from './predictor.js'
import { runThreshold, type RunConfig } from '../run/run-folder.js'
import type { Tta } from '../data/tta.js'

/** What to evaluate, and how (the options of `pcam eval`). */
export interface EvaluateOptions {
  /** Run folder of the model (`--model`). */
  run: string
  /** Patch store folder to evaluate on (`--data`). */
  store: string
  /** Split of the store whose labelled patches are evaluated (`--split`). */
  split: SplitName
  /** Test-time augmentation (`--tta`, `--tta-views`). */
  tta: Tta
  /** null: the run's own threshold. */
  threshold: ThresholdRule | null
  /** Called after each batch with the patches predicted so far and the total. */
  onProgress?: (done: number, total: number) => void
}

/** The figures of `pcam eval`: binaryReport's metrics on the split, and how they were obtained. */
export interface Evaluation extends BinaryReport {
  /** Split of the store that was evaluated. */
  split: SplitName
  /** Number of labelled patches of the split evaluated. */
  patches: number
  /** Test-time augmentation the predictions averaged over. */
  tta: Tta
  /** Wall-clock seconds spent predicting the patches (the model and store already open). */
  seconds: number
  /** Throughput: patches predicted per second of wall-clock time. */
  patchesPerSec: number
  /** How the store's splits were made, in words (the store's splitMethod). */
  splitMethod: string
  /** Where the threshold came from: the run (chosen on its valid split) or this split's data. */
  thresholdFrom: 'run' | 'this split'
  /** The inference engine that computed the probabilities (absent: libtorch). */
  engine?: string
  /**
   * An ensemble's members on the same patches, each at its own threshold (the run's) or at one
   * chosen on this split by the same rule; the figures above are the ensemble's.
   */
  members?: MemberEvaluation[]
}

/** One member of an ensemble, evaluated: its folder name and its figures. */
export type MemberEvaluation = {
  /** The member's subfolder name in the ensemble's run folder. */
  member: string
} & BinaryReport

/** The figures, and the predictions behind them (store indices, probabilities, labels). */
export interface EvaluationResult {
  /** The metrics and how they were obtained. */
  evaluation: Evaluation
  /** Store indices of the patches evaluated (the split's labelled ones), in store order. */
  indices: number[]
  /** Probability of the positive class for each patch, in the order of indices. */
  probabilities: Float32Array
  /** Label (class index) of each patch, in the order of indices. */
  labels: Float64Array
}

/**
 * Evaluates a run on a store with the chosen engine (default: openPredictor's): opens both,
 * predicts, closes them.
 */
export async function evaluate(
  options: EvaluateOptions & { engine?: Engine; compute?: ComputeRequest },
): Promise<EvaluationResult> {
  const predictor = await openPredictor(options.run, options.engine, options.compute)
  try {
    const store = PatchStore.open(options.store)
    try {
      return await evaluateWith(predictor, store, options)
    } finally {
      store.dispose()
    }
  } finally {
    predictor.dispose()
  }
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

/** The same with a predictor and a store already open (they stay open). */
export async function evaluateWith(
  predictor: PatchPredictor,
  store: PatchStore,
  options: Omit<EvaluateOptions, 'run'>,
): Promise<EvaluationResult> {
  const indices = evaluatedIndices(predictor.config, store, options)
  const started = performance.now()
  // An ensemble's members' probabilities are kept as they go by: their figures come for free.
  const memberBatches: Float32Array[][] = []
  const recording: PatchPredictor =
    predictor instanceof EnsemblePredictor
      ? {
          engine: predictor.engine,
          config: predictor.config,
          predict: async (images, tta) => {
            const each = await predictor.predictMembers(images, tta)
            memberBatches.push(each)
            return meanOf(each)
          },
          dispose: () => predictor.dispose(),
        }
      : predictor
  const probabilities = await predictStoreWith(recording, store, indices, {
    tta: options.tta,
    onProgress: options.onProgress,
  })
  const result = summarize(predictor.config, store, options, indices, probabilities, started)
  result.evaluation.engine = predictor.engine
  if (predictor instanceof EnsemblePredictor) {
    const names = predictor.config.ensemble?.members ?? []
    result.evaluation.members = predictor.members.map((member, m) => {
      const batches = memberBatches.map((each) => each[m] as Float32Array)
      const joined = new Float32Array(indices.length)
      let at = 0
      for (const b of batches) {
        joined.set(b, at)
        at += b.length
      }
      const report = memberReport(member.config, options, joined, result.labels)
      return { member: names[m] ?? `member-${m + 1}`, ...report }
    })
  }
  return result
}

/** A member's figures on the split: at its own threshold, or one its probabilities choose by the rule. */
function memberReport(
  config: RunConfig,
  options: Omit<EvaluateOptions, 'run'>,
  probabilities: Float32Array,
  labels: Float64Array,
): BinaryReport {
  const threshold =
    options.threshold === null
      ? runThreshold(config)
      : chooseThreshold(probabilities, labels, options.threshold)
  return binaryReport(probabilities, labels, threshold)
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
