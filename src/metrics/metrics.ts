/**
 * Binary classification metrics from predicted probabilities: ROC AUC (exact, ties counted half)
 * with DeLong's 95% confidence interval, average precision (PR AUC), the confusion matrix and what
 * follows from it at a threshold, log loss, Brier score and expected calibration error; and the
 * choice of a threshold on validation data. Written here rather than taken from npm: no kept
 * package computes DeLong's interval, and these few functions are checked against scikit-learn and
 * scipy in the tests.
 * @module
 */
import { DataError, ValidationError } from '../errors.js'

/** Probabilities, labels or scores: a typed array or a plain one. */
export type Numbers = ArrayLike<number>

function classCounts(labels: Numbers): { positives: number; negatives: number } {
  let positives = 0
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]
    if (label !== 0 && label !== 1)
      throw new ValidationError(`Labels must be 0 or 1; label ${i} is ${label}`)
    positives += label
  }
  return { positives, negatives: labels.length - positives }
}

function requireBothClasses(
  labels: Numbers,
  metric: string,
): { positives: number; negatives: number } {
  const counts = classCounts(labels)
  if (counts.positives === 0 || counts.negatives === 0) {
    const only = counts.positives === 0 ? 'negatives' : 'positives'
    throw new DataError(`${metric} is undefined: the labels hold only ${only}`)
  }
  return counts
}

/** 1-based ranks of values with ties sharing their mean rank. */
function midranks(values: number[]): number[] {
  const order = values
    .map((_, i) => i)
    .sort((a, b) => (values[a] as number) - (values[b] as number))
  const ranks = new Array<number>(values.length)
  for (let i = 0; i < order.length;) {
    let j = i
    while (j + 1 < order.length && values[order[j + 1]!] === values[order[i]!]) j++
    for (let k = i; k <= j; k++) ranks[order[k]!] = (i + j) / 2 + 1
    i = j + 1
  }
  return ranks
}

/** Area under the ROC curve; ties between classes count 1/2 (the Mann-Whitney statistic). */
export function rocAuc(scores: Numbers, labels: Numbers): number {
  const { positives, negatives } = requireBothClasses(labels, 'ROC AUC')
  const ranks = midranks(Array.from(scores))
  let rankSum = 0
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) rankSum += ranks[i] as number
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives)
}

/**
 * ROC AUC with its 95% confidence interval by DeLong's method, computed from midranks in
 * O(n log n) (Sun & Xu's fast algorithm).
 */
export function rocAucWithCi(
  scores: Numbers,
  labels: Numbers,
): {
  /** Area under the ROC curve, in [0, 1]. */
  auc: number
  /** Lower end of the 95% confidence interval, clipped at 0. */
  low: number
  /** Upper end of the 95% confidence interval, clipped at 1. */
  high: number
  /** DeLong's standard error of the AUC. */
  se: number
} {
  const { positives: m, negatives: n } = requireBothClasses(labels, 'ROC AUC')
  const all = Array.from(scores)
  const pos = all.filter((_, i) => labels[i] === 1)
  const neg = all.filter((_, i) => labels[i] === 0)
  const rankAll = midranks(all)
  const rankPos = midranks(pos)
  const rankNeg = midranks(neg)
  const allPos = rankAll.filter((_, i) => labels[i] === 1)
  const allNeg = rankAll.filter((_, i) => labels[i] === 0)
  const v10 = allPos.map((r, i) => (r - (rankPos[i] as number)) / n)
  const v01 = allNeg.map((r, j) => 1 - (r - (rankNeg[j] as number)) / m)
  const auc = v10.reduce((a, b) => a + b, 0) / m
  const variance = (values: number[]) => {
    const mean = values.reduce((a, b) => a + b, 0) / values.length
    return values.length > 1
      ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1)
      : 0
  }
  const se = Math.sqrt(variance(v10) / m + variance(v01) / n)
  return { auc, se, low: Math.max(0, auc - 1.959964 * se), high: Math.min(1, auc + 1.959964 * se) }
}

/** Points of the ROC curve at every distinct threshold, highest first (as sklearn's roc_curve). */
export function rocCurve(
  scores: Numbers,
  labels: Numbers,
): {
  /** False positive rate at each point, in [0, 1], from 0 up. */
  fpr: number[]
  /** True positive rate (sensitivity) at each point, in [0, 1]. */
  tpr: number[]
  /** Probability at or above which a patch counts as positive; Infinity at the first point. */
  thresholds: number[]
} {
  const { positives, negatives } = requireBothClasses(labels, 'The ROC curve')
  const order = Array.from(scores, (_, i) => i).sort(
    (a, b) => (scores[b] as number) - (scores[a] as number),
  )
  const fpr = [0]
  const tpr = [0]
  const thresholds = [Infinity]
  let tp = 0
  let fp = 0
  for (let k = 0; k < order.length; k++) {
    const i = order[k] as number
    if (labels[i] === 1) tp++
    else fp++
    const next = order[k + 1]
    if (next === undefined || scores[next] !== scores[i]) {
      fpr.push(fp / negatives)
      tpr.push(tp / positives)
      thresholds.push(scores[i] as number)
    }
  }
  return { fpr, tpr, thresholds }
}

/** Average precision (the PR AUC estimator sklearn's average_precision_score uses). */
export function averagePrecision(scores: Numbers, labels: Numbers): number {
  const { positives } = requireBothClasses(labels, 'Average precision')
  const { fpr, tpr, thresholds } = rocCurve(scores, labels)
  let ap = 0
  for (let k = 1; k < thresholds.length; k++) {
    const tp = (tpr[k] as number) * positives
    const predicted = tp + (fpr[k] as number) * (scores.length - positives)
    const precision = predicted > 0 ? tp / predicted : 1
    ap += ((tpr[k] as number) - (tpr[k - 1] as number)) * precision
  }
  return ap
}

/** The confusion matrix of a binary classifier at one threshold, as counts of examples. */
export interface Confusion {
  /** True positives: label 1, probability at or above the threshold. */
  tp: number
  /** False positives: label 0, probability at or above the threshold. */
  fp: number
  /** True negatives: label 0, probability below the threshold. */
  tn: number
  /** False negatives: label 1, probability below the threshold. */
  fn: number
}

/** True and false positives and negatives; a probability at or above threshold is positive. */
export function confusion(probabilities: Numbers, labels: Numbers, threshold = 0.5): Confusion {
  classCounts(labels)
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 }
  for (let i = 0; i < labels.length; i++) {
    const predicted = (probabilities[i] as number) >= threshold
    if (labels[i] === 1 && predicted) c.tp++
    else if (labels[i] === 1) c.fn++
    else if (predicted) c.fp++
    else c.tn++
  }
  return c
}

/** The share of patches classified correctly at the threshold, in [0, 1]. */
export function accuracy(probabilities: Numbers, labels: Numbers, threshold = 0.5): number {
  const c = confusion(probabilities, labels, threshold)
  return (c.tp + c.tn) / labels.length
}

/** Mean negative log-likelihood, probabilities clipped to [1e-15, 1 - 1e-15] as sklearn does. */
export function logLoss(probabilities: Numbers, labels: Numbers): number {
  let sum = 0
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(Math.max(probabilities[i] as number, 1e-15), 1 - 1e-15)
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p)
  }
  return sum / labels.length
}

export function brierScore(probabilities: Numbers, labels: Numbers): number {
  let sum = 0
  for (let i = 0; i < labels.length; i++)
    sum += ((probabilities[i] as number) - (labels[i] as number)) ** 2
  return sum / labels.length
}

/** Expected calibration error: the bins' |predicted - observed|, weighted by their share. */
export function expectedCalibrationError(
  probabilities: Numbers,
  labels: Numbers,
  bins = 10,
): number {
  return calibrationCurve(probabilities, labels, bins).reduce(
    (ece, bin) => ece + (bin.count / labels.length) * Math.abs(bin.predicted - bin.observed),
    0,
  )
}

/**
 * Every metric of binaryReport: the confusion counts and the rates at the threshold, then the
 * threshold-free ones. A rate whose denominator is 0 is reported as 0.
 */
export interface BinaryReport extends Confusion {
  /** Decision threshold: a probability at or above it counts as positive, in [0, 1]. */
  threshold: number
  /** (tp + tn) / all, in [0, 1]. */
  accuracy: number
  /** (fp + fn) / all, in [0, 1]: 1 - accuracy. */
  errorRate: number
  /** Sensitivity (recall, true positive rate): tp / (tp + fn), in [0, 1]. */
  sensitivity: number
  /** Specificity (true negative rate): tn / (tn + fp), in [0, 1]. */
  specificity: number
  /** Precision (positive predictive value): tp / (tp + fp), in [0, 1]. */
  precision: number
  /** F1 score: harmonic mean of precision and sensitivity, in [0, 1]. */
  f1: number
  /** Area under the ROC curve, in [0, 1]; independent of the threshold. */
  rocAuc: number
  /** Lower end of DeLong's 95% confidence interval for rocAuc, clipped at 0. */
  rocAucLow: number
  /** Upper end of DeLong's 95% confidence interval for rocAuc, clipped at 1. */
  rocAucHigh: number
  /** Average precision (PR AUC), in [0, 1]. */
  averagePrecision: number
  /** Mean negative log-likelihood (natural log) of the labels; lower is better. */
  logLoss: number
  /** Brier score: mean squared difference between probability and label, in [0, 1]. */
  brier: number
  /** Expected calibration error over 10 equal-width probability bins, in [0, 1]. */
  ece: number
}

/** Every metric at once, for reports and `pcam eval --json`. */
export function binaryReport(
  probabilities: Numbers,
  labels: Numbers,
  threshold = 0.5,
): BinaryReport {
  const c = confusion(probabilities, labels, threshold)
  const ratio = (a: number, b: number) => (b > 0 ? a / b : 0)
  const sensitivity = ratio(c.tp, c.tp + c.fn)
  const precision = ratio(c.tp, c.tp + c.fp)
  const { auc, low, high } = rocAucWithCi(probabilities, labels)
  return {
    ...c,
    threshold,
    accuracy: (c.tp + c.tn) / labels.length,
    errorRate: (c.fp + c.fn) / labels.length,
    sensitivity,
    specificity: ratio(c.tn, c.tn + c.fp),
    precision,
    f1: ratio(2 * precision * sensitivity, precision + sensitivity),
    rocAuc: auc,
    rocAucLow: low,
    rocAucHigh: high,
    averagePrecision: averagePrecision(probabilities, labels),
    logLoss: logLoss(probabilities, labels),
    brier: brierScore(probabilities, labels),
    ece: expectedCalibrationError(probabilities, labels),
  }
}

/** How chooseThreshold picks a decision threshold; parseThresholdRule reads it from text. */
export type ThresholdRule =
  | {
      /** A fixed threshold. */
      kind: 'fixed'
      /** The threshold, a probability in [0, 1]. */
      value: number
    }
  | {
      /** The threshold maximising Youden's J (sensitivity + specificity - 1). */
      kind: 'youden'
    }
  | {
      /** The highest threshold whose sensitivity reaches target. */
      kind: 'sensitivity'
      /** The sensitivity to reach, in [0, 1]. */
      target: number
    }

/** Reads "0.5", "youden" or "sensitivity:0.95". */
export function parseThresholdRule(value: string): ThresholdRule {
  if (value === 'youden') return { kind: 'youden' }
  const sensitivity = /^sensitivity:(0?\.\d+|1)$/.exec(value)
  if (sensitivity) return { kind: 'sensitivity', target: Number(sensitivity[1]) }
  const fixed = Number(value)
  if (value !== '' && fixed >= 0 && fixed <= 1) return { kind: 'fixed', value: fixed }
  throw new ValidationError(
    `Expected a number in [0, 1], "youden" or "sensitivity:0.95" for the threshold but received "${value}"`,
  )
}

/** The rule as parseThresholdRule reads it. */
export function formatThresholdRule(rule: ThresholdRule): string {
  if (rule.kind === 'fixed') return String(rule.value)
  return rule.kind === 'youden' ? 'youden' : `sensitivity:${rule.target}`
}

/**
 * A decision threshold chosen on validation data: fixed, Youden's J (sensitivity + specificity - 1
 * at its maximum), or the highest threshold reaching a target sensitivity.
 */
export function chooseThreshold(
  probabilities: Numbers,
  labels: Numbers,
  rule: ThresholdRule,
): number {
  if (rule.kind === 'fixed') return rule.value
  const { fpr, tpr, thresholds } = rocCurve(probabilities, labels)
  let best = 1
  if (rule.kind === 'youden') {
    let bestJ = -Infinity
    for (let k = 1; k < thresholds.length; k++) {
      const j = (tpr[k] as number) - (fpr[k] as number)
      if (j > bestJ) [bestJ, best] = [j, thresholds[k] as number]
    }
    return best
  }
  for (let k = 1; k < thresholds.length; k++) {
    if ((tpr[k] as number) >= rule.target) return thresholds[k] as number
  }
  return thresholds.at(-1) as number
}

/**
 * Precision and recall at every distinct threshold, in sklearn's precision_recall_curve order:
 * thresholds ascending, then the end point (precision 1, recall 0).
 */
export function precisionRecallCurve(
  scores: Numbers,
  labels: Numbers,
): { precision: number[]; recall: number[]; thresholds: number[] } {
  const { positives, negatives } = requireBothClasses(labels, 'The PR curve')
  const { fpr, tpr, thresholds } = rocCurve(scores, labels)
  const precision: number[] = []
  const recall: number[] = []
  const kept: number[] = []
  for (let k = thresholds.length - 1; k >= 1; k--) {
    const tp = (tpr[k] as number) * positives
    const fp = (fpr[k] as number) * negatives
    precision.push(tp / (tp + fp))
    recall.push(tpr[k] as number)
    kept.push(thresholds[k] as number)
  }
  precision.push(1)
  recall.push(0)
  return { precision, recall, thresholds: kept }
}

export interface CalibrationBin {
  /** Mean predicted probability of the bin's patches. */
  predicted: number
  /** Fraction of them that are positive. */
  observed: number
  count: number
}

/**
 * The reliability diagram's points: equal-width probability bins, empty ones left out (sklearn's
 * calibration_curve with strategy="uniform").
 */
export function calibrationCurve(
  probabilities: Numbers,
  labels: Numbers,
  bins = 10,
): CalibrationBin[] {
  const count = new Array<number>(bins).fill(0)
  const predicted = new Array<number>(bins).fill(0)
  const observed = new Array<number>(bins).fill(0)
  // sklearn's edges: linspace(0, 1 + 1e-8, bins + 1); a probability on an edge joins the lower bin.
  const edges = Array.from({ length: bins - 1 }, (_, j) => ((j + 1) * (1 + 1e-8)) / bins)
  for (let i = 0; i < labels.length; i++) {
    const p = probabilities[i] as number
    let b = Math.min(Math.max(Math.floor(p * bins) - 1, 0), bins - 1)
    while (b < bins - 1 && (edges[b] as number) < p) b++
    count[b]!++
    predicted[b]! += p
    observed[b]! += labels[i] as number
  }
  return count.flatMap((n, b) =>
    n === 0 ? [] : [{ predicted: predicted[b]! / n, observed: observed[b]! / n, count: n }],
  )
}

/** Counts of (true class, predicted class): matrix[truth][predicted], for any number of classes. */
export function confusionMatrix(truth: Numbers, predicted: Numbers, classes: number): number[][] {
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0))
  for (let i = 0; i < truth.length; i++) {
    const row = matrix[truth[i] as number]
    const column = predicted[i] as number
    if (!row || column < 0 || column >= classes)
      throw new ValidationError(`Class ${truth[i]} / ${column} is outside 0..${classes - 1}`)
    row[column]!++
  }
  return matrix
}

/** The off-diagonal cells of a confusion matrix, most frequent first (fastai's most_confused). */
export function mostConfused(
  matrix: number[][],
  classes: string[],
  minimum = 1,
): { actual: string; predicted: string; count: number }[] {
  const cells = matrix.flatMap((row, a) =>
    row.flatMap((count, p) =>
      a !== p && count >= minimum
        ? [{ actual: classes[a] ?? String(a), predicted: classes[p] ?? String(p), count }]
        : [],
    ),
  )
  return cells.sort((x, y) => y.count - x.count)
}

/** The most probable class of each row of row-major N x classes probabilities (argmax). */
export function predictedClasses(probabilities: Numbers, classes: number): Float32Array {
  return Float32Array.from({ length: probabilities.length / classes }, (_, i) => {
    let best = 0
    for (let k = 1; k < classes; k++)
      if (
        (probabilities[i * classes + k] as number) > (probabilities[i * classes + best] as number)
      )
        best = k
    return best
  })
}

/** The share of rows whose most probable class is their label (k classes). */
export function multiclassAccuracy(
  probabilities: Numbers,
  labels: Numbers,
  classes: number,
): number {
  const guess = predictedClasses(probabilities, classes)
  return guess.filter((g, i) => g === labels[i]).length / guess.length
}

/** ROC AUC of class k against the rest, from row-major N x classes probabilities. */
export function oneVsRestAuc(
  probabilities: Numbers,
  labels: Numbers,
  classes: number,
  k: number,
): number {
  return rocAuc(
    Float32Array.from(
      { length: labels.length },
      (_, i) => probabilities[i * classes + k] as number,
    ),
    Array.from(labels, (y) => (y === k ? 1 : 0)),
  )
}
