/**
 * The evaluation's pictures as Vega-Lite specifications (data in, spec out; render.ts draws them):
 * ROC and PR curves with the operating point, confusion matrix, reliability diagram, training
 * curves from metrics.jsonl, the LR finder's curve, and Camelyon16's FROC curve.
 * @module
 */
import type { TopLevelSpec } from 'vega-lite'
import type { EpochRecord } from '../run/run-folder.js'
import type { CalibrationBin } from '../metrics/metrics.js'

const SIZE = { width: 320, height: 320 }
// Colour-blind-safe (Okabe-Ito): blue for the curve, vermillion for the operating point.
const BLUE = '#0072B2'
const ORANGE = '#D55E00'
const GREY = '#999999'
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json'

const f3 = (v: number) => v.toFixed(3)

/** The points of a curve, thinned to at most `limit` so an SVG stays small; ends are kept. */
function thin<T>(points: T[], limit = 1500): T[] {
  if (points.length <= limit) return points
  const step = (points.length - 1) / (limit - 1)
  return Array.from({ length: limit }, (_, k) => points[Math.round(k * step)] as T)
}

const unitAxis = (field: string, title: string) => ({
  field,
  type: 'quantitative' as const,
  title,
  scale: { domain: [0, 1] },
})

export interface OperatingPoint {
  threshold: number
  sensitivity: number
  specificity: number
  precision: number
}

export function rocChart(
  curve: { fpr: number[]; tpr: number[] },
  auc: { value: number; low: number; high: number },
  at: OperatingPoint,
): TopLevelSpec {
  const points = thin(curve.fpr.map((fpr, k) => ({ fpr, tpr: curve.tpr[k] as number })))
  return {
    $schema: SCHEMA,
    title: `ROC curve: AUC ${f3(auc.value)} (95% CI ${f3(auc.low)}-${f3(auc.high)})`,
    ...SIZE,
    layer: [
      {
        data: {
          values: [
            { fpr: 0, tpr: 0 },
            { fpr: 1, tpr: 1 },
          ],
        },
        mark: { type: 'line', color: GREY, strokeDash: [4, 4] },
        encoding: { x: unitAxis('fpr', ''), y: unitAxis('tpr', '') },
      },
      {
        data: { values: points },
        mark: { type: 'line', color: BLUE, interpolate: 'step-after' },
        encoding: {
          x: unitAxis('fpr', 'False positive rate (1 - specificity)'),
          y: unitAxis('tpr', 'True positive rate (sensitivity)'),
        },
      },
      operatingPoint(
        { fpr: 1 - at.specificity, tpr: at.sensitivity },
        'fpr',
        'tpr',
        `threshold ${f3(at.threshold)}: sens ${f3(at.sensitivity)}, spec ${f3(at.specificity)}`,
      ),
    ],
  }
}

export function prChart(
  curve: { precision: number[]; recall: number[] },
  averagePrecision: number,
  prevalence: number,
  at: OperatingPoint,
): TopLevelSpec {
  const points = thin(curve.recall.map((recall, k) => ({ recall, precision: curve.precision[k] })))
  return {
    $schema: SCHEMA,
    title: `Precision-recall: AP ${f3(averagePrecision)} (chance ${f3(prevalence)})`,
    ...SIZE,
    layer: [
      {
        data: {
          values: [
            { recall: 0, precision: prevalence },
            { recall: 1, precision: prevalence },
          ],
        },
        mark: { type: 'line', color: GREY, strokeDash: [4, 4] },
        encoding: { x: unitAxis('recall', ''), y: unitAxis('precision', '') },
      },
      {
        data: { values: points },
        mark: { type: 'line', color: BLUE, interpolate: 'step-before' },
        encoding: {
          x: unitAxis('recall', 'Recall (sensitivity)'),
          y: unitAxis('precision', 'Precision'),
        },
      },
      operatingPoint(
        { recall: at.sensitivity, precision: at.precision },
        'recall',
        'precision',
        `threshold ${f3(at.threshold)}`,
      ),
    ],
  }
}

function operatingPoint(point: Record<string, number>, x: string, y: string, label: string) {
  return {
    data: { values: [{ ...point, label }] },
    encoding: {
      x: { field: x, type: 'quantitative' as const },
      y: { field: y, type: 'quantitative' as const },
    },
    layer: [
      { mark: { type: 'point' as const, filled: true, size: 90, color: ORANGE } },
      {
        mark: {
          type: 'text' as const,
          align: 'left' as const,
          dx: 8,
          dy: 14,
          fontSize: 11,
          color: ORANGE,
        },
        encoding: { text: { field: 'label', type: 'nominal' as const } },
      },
    ],
  }
}

/** Counts with the share of each true class, rows = truth, columns = prediction. */
export function confusionChart(matrix: number[][], classes: string[]): TopLevelSpec {
  const cells = matrix.flatMap((row, a) => {
    const total = row.reduce((s, v) => s + v, 0)
    return row.map((count, p) => ({
      actual: classes[a],
      predicted: classes[p],
      count,
      label: `${count} (${total ? ((100 * count) / total).toFixed(1) : '0'}%)`,
      share: total ? count / total : 0,
    }))
  })
  const axis = (field: string, title: string) => ({
    field,
    type: 'nominal' as const,
    title,
    sort: classes,
    axis: { labelAngle: 0 },
  })
  return {
    $schema: SCHEMA,
    title: 'Confusion matrix',
    width: 80 * classes.length + 80,
    height: 80 * classes.length + 80,
    data: { values: cells },
    encoding: { x: axis('predicted', 'Predicted'), y: axis('actual', 'Actual') },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: {
            field: 'share',
            type: 'quantitative',
            scale: { scheme: 'blues', domain: [0, 1] },
            legend: null,
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 14 },
        encoding: {
          text: { field: 'label', type: 'nominal' },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  }
}

/** Reliability diagram: observed positive rate against mean predicted probability per bin. */
export function calibrationChart(bins: CalibrationBin[], ece: number): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title: `Calibration: ECE ${f3(ece)}`,
    ...SIZE,
    layer: [
      {
        data: {
          values: [
            { predicted: 0, observed: 0 },
            { predicted: 1, observed: 1 },
          ],
        },
        mark: { type: 'line', color: GREY, strokeDash: [4, 4] },
        encoding: { x: unitAxis('predicted', ''), y: unitAxis('observed', '') },
      },
      {
        data: { values: bins },
        encoding: {
          x: unitAxis('predicted', 'Mean predicted probability'),
          y: unitAxis('observed', 'Fraction positive'),
        },
        layer: [
          { mark: { type: 'line', color: BLUE } },
          {
            mark: { type: 'point', filled: true, color: BLUE },
            encoding: {
              size: { field: 'count', type: 'quantitative', title: 'patches' },
            },
          },
        ],
      },
    ],
  }
}

/** Train and valid loss, valid ROC AUC and accuracy per epoch, stages in sequence. */
export function trainingChart(records: EpochRecord[]): TopLevelSpec {
  const rows = records.flatMap((r, k) => {
    const epoch = k + 1
    return [
      { epoch, stage: r.stage, panel: 'loss', series: 'train loss', value: r.trainLoss },
      { epoch, stage: r.stage, panel: 'loss', series: 'valid loss', value: r.validLoss },
      { epoch, stage: r.stage, panel: 'valid metric', series: 'ROC AUC', value: r.auc },
      { epoch, stage: r.stage, panel: 'valid metric', series: 'accuracy', value: r.accuracy },
    ]
  })
  const panel = (name: string, title: string) => ({
    width: 420,
    height: 180,
    transform: [{ filter: `datum.panel === '${name}'` }],
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'ordinal', title: 'Epoch', axis: { labelAngle: 0 } },
      y: { field: 'value', type: 'quantitative', title, scale: { zero: false } },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        scale: { range: [BLUE, ORANGE, '#009E73', '#CC79A7'] },
      },
      tooltip: [
        { field: 'stage', type: 'nominal' },
        { field: 'series', type: 'nominal' },
        { field: 'value', type: 'quantitative', format: '.4f' },
      ],
    },
  })
  return {
    $schema: SCHEMA,
    title: 'Training',
    data: { values: rows },
    vconcat: [panel('loss', 'Loss'), panel('valid metric', 'Validation')],
    resolve: { scale: { color: 'independent' } },
  } as TopLevelSpec
}

/** The LR finder's smoothed loss against the learning rate (log scale) with the suggestion. */
export function lrFinderChart(lrs: number[], losses: number[], suggestion: number): TopLevelSpec {
  const points = lrs.map((lr, k) => ({ lr, loss: losses[k] }))
  return {
    $schema: SCHEMA,
    title: `LR finder: suggested ${suggestion.toExponential(1)}`,
    width: 420,
    height: 260,
    layer: [
      {
        data: { values: points },
        mark: { type: 'line', color: BLUE },
        encoding: {
          x: { field: 'lr', type: 'quantitative', scale: { type: 'log' }, title: 'Learning rate' },
          y: {
            field: 'loss',
            type: 'quantitative',
            scale: { zero: false },
            title: 'Loss (smoothed)',
          },
        },
      },
      {
        data: { values: [{ lr: suggestion }] },
        mark: { type: 'rule', color: ORANGE, strokeDash: [4, 4] },
        encoding: { x: { field: 'lr', type: 'quantitative' } },
      },
    ],
  }
}

/** Camelyon16's FROC: sensitivity against average false positives per slide (log scale). */
export function frocChart(
  curve: { fpPerSlide: number[]; sensitivity: number[] },
  at: Record<string, number>,
  score: number,
): TopLevelSpec {
  // The curve from 1/8 to 16 false positives a slide, where the score is read.
  const points = thin(
    curve.fpPerSlide
      .map((fp, k) => ({ fp, sensitivity: curve.sensitivity[k] as number }))
      .filter((p) => p.fp >= 0.125 && p.fp <= 16)
      .reverse(),
  )
  const marks = Object.entries(at).map(([fp, sensitivity]) => ({ fp: Number(fp), sensitivity }))
  const x = {
    field: 'fp',
    type: 'quantitative' as const,
    title: 'Average false positives per slide',
    scale: { type: 'log' as const, domain: [0.125, 16] },
  }
  return {
    $schema: SCHEMA,
    title: `FROC: score ${f3(score)} (mean sensitivity at 1/4 to 8 FP per slide)`,
    ...SIZE,
    layer: [
      {
        data: { values: points },
        mark: { type: 'line', color: BLUE, interpolate: 'step-after' },
        encoding: { x, y: unitAxis('sensitivity', 'Sensitivity (lesions found)') },
      },
      {
        data: { values: marks },
        mark: { type: 'point', color: ORANGE, filled: true, size: 60 },
        encoding: { x, y: unitAxis('sensitivity', '') },
      },
    ],
  }
}
