// Metrics against scikit-learn on the same predictions, tied scores included; DeLong's interval
// against a direct O(m·n) computation of the same statistic.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runPythonJson } from '../../src/bench/python.js'
import {
  binaryReport,
  calibrationCurve,
  chooseThreshold,
  confusionMatrix,
  mostConfused,
  precisionRecallCurve,
  rocAucWithCi,
  rocCurve,
} from '../../src/metrics/metrics.js'
import { seededRandom } from '../../src/data/split.js'
import { PARITY_DIR } from '../helpers/torch-reference.js'

function makeCase(n: number, seed: number, decimals: number) {
  const random = seededRandom(seed)
  const labels = Array.from({ length: n }, () => (random() < 0.4 ? 1 : 0))
  // Scores that separate the classes partly; rounding makes ties.
  const probabilities = labels.map((y) => {
    const p = Math.min(1, Math.max(0, 0.35 + 0.3 * y + (random() - 0.5) * 0.7))
    return Number(p.toFixed(decimals))
  })
  return { probabilities, labels, threshold: 0.5 }
}

const cases = [
  makeCase(500, 1, 6),
  makeCase(300, 2, 1),
  makeCase(40, 3, 2),
  { probabilities: [0.5, 0.5, 0.5, 0.5], labels: [0, 1, 0, 1], threshold: 0.5 },
]

// Three classes, for the confusion matrix and most-confused summary.
const multiRandom = seededRandom(7)
const multiTruth = Array.from({ length: 200 }, () => Math.floor(multiRandom() * 3))
const multiclass = {
  classes: 3,
  truth: multiTruth,
  predicted: multiTruth.map((t) =>
    multiRandom() < 0.7 ? t : (t + 1 + (multiRandom() < 0.8 ? 0 : 1)) % 3,
  ),
}

describe('metrics match scikit-learn', () => {
  const replies = runPythonJson(join(PARITY_DIR, 'metrics_reference.py'), {
    cases,
    multiclass,
  }) as { results: Record<string, unknown>[]; multiclassConfusion: number[][] }
  const reference = replies.results
  const rounded = (values: number[]) => values.map((v) => +v.toFixed(12))

  cases.forEach((c, k) => {
    it(`case ${k} (${c.labels.length} predictions)`, () => {
      const ours = binaryReport(c.probabilities, c.labels, c.threshold)
      const want = reference[k]!
      for (const key of [
        'rocAuc',
        'averagePrecision',
        'logLoss',
        'brier',
        'accuracy',
        'precision',
        'sensitivity',
        'specificity',
        'f1',
      ]) {
        const a = ours[key as keyof typeof ours] as number
        assert.ok(
          Math.abs(a - (want[key] as number)) < 1e-9,
          `${key}: ${a} vs sklearn ${want[key]}`,
        )
      }
      assert.deepEqual({ tp: ours.tp, fp: ours.fp, tn: ours.tn, fn: ours.fn }, want.confusion)
      const curve = rocCurve(c.probabilities, c.labels)
      assert.deepEqual(
        curve.fpr.map((v) => +v.toFixed(12)),
        (want.fpr as number[]).map((v) => +v.toFixed(12)),
      )
      assert.deepEqual(
        curve.tpr.map((v) => +v.toFixed(12)),
        (want.tpr as number[]).map((v) => +v.toFixed(12)),
      )
      const pr = precisionRecallCurve(c.probabilities, c.labels)
      assert.deepEqual(rounded(pr.precision), rounded(want.precisionCurve as number[]))
      assert.deepEqual(rounded(pr.recall), rounded(want.recallCurve as number[]))
      assert.deepEqual(pr.thresholds, want.prThresholds)
      const bins = calibrationCurve(c.probabilities, c.labels)
      assert.deepEqual(
        rounded(bins.map((b) => b.observed)),
        rounded(want.calibrationObserved as number[]),
      )
      assert.deepEqual(
        rounded(bins.map((b) => b.predicted)),
        rounded(want.calibrationPredicted as number[]),
      )
    })
  })

  it('confusion matrix of three classes, and the most-confused pairs from it', () => {
    const matrix = confusionMatrix(multiclass.truth, multiclass.predicted, 3)
    assert.deepEqual(matrix, replies.multiclassConfusion)
    const pairs = mostConfused(matrix, ['a', 'b', 'c'])
    assert.equal(pairs.length, 6)
    for (let k = 1; k < pairs.length; k++) assert.ok(pairs[k - 1]!.count >= pairs[k]!.count)
    const top = pairs[0]!
    const [a, p] = [top.actual, top.predicted].map((n) => ['a', 'b', 'c'].indexOf(n))
    assert.equal(top.count, matrix[a!]![p!])
    assert.ok(mostConfused(matrix, ['a', 'b', 'c'], top.count + 1).length === 0)
  })
})

describe('DeLong interval and thresholds', () => {
  it('DeLong variance equals the direct computation from pairwise comparisons', () => {
    const { probabilities: p, labels: y } = makeCase(200, 4, 2)
    const pos = p.filter((_, i) => y[i] === 1)
    const neg = p.filter((_, i) => y[i] === 0)
    const psi = (a: number, b: number) => (a > b ? 1 : a === b ? 0.5 : 0)
    const v10 = pos.map((a) => neg.reduce((s, b) => s + psi(a, b), 0) / neg.length)
    const v01 = neg.map((b) => pos.reduce((s, a) => s + psi(a, b), 0) / pos.length)
    const auc = v10.reduce((a, b) => a + b, 0) / pos.length
    const variance = (v: number[]) => {
      const m = v.reduce((a, b) => a + b, 0) / v.length
      return v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1)
    }
    const se = Math.sqrt(variance(v10) / pos.length + variance(v01) / neg.length)
    const ours = rocAucWithCi(p, y)
    assert.ok(Math.abs(ours.auc - auc) < 1e-12)
    assert.ok(Math.abs(ours.se - se) < 1e-12, `${ours.se} vs ${se}`)
    assert.ok(ours.low < auc && auc < ours.high)
  })

  it('thresholds: Youden maximises sensitivity + specificity; a target sensitivity is reached', () => {
    const { probabilities: p, labels: y } = makeCase(400, 5, 3)
    const youden = chooseThreshold(p, y, { kind: 'youden' })
    const j = (t: number) => {
      const r = binaryReport(p, y, t)
      return r.sensitivity + r.specificity - 1
    }
    for (const t of [0.2, 0.4, 0.5, 0.6, 0.8]) assert.ok(j(youden) >= j(t) - 1e-12)
    const t90 = chooseThreshold(p, y, { kind: 'sensitivity', target: 0.9 })
    assert.ok(binaryReport(p, y, t90).sensitivity >= 0.9)
    assert.equal(chooseThreshold(p, y, { kind: 'fixed', value: 0.3 }), 0.3)
  })

  it('one class only: AUC is a clear error, not NaN', () => {
    assert.throws(
      () => binaryReport([0.2, 0.9], [1, 1]),
      /ROC AUC is undefined: the labels hold only positives/,
    )
  })
})
