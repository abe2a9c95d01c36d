// ROC AUC on hand-computed cases, ties included, and the single-class error.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { accuracy, multiclassAccuracy, oneVsRestAuc, predictedClasses, rocAuc } from './metrics.js'

describe('metrics', () => {
  it('ROC AUC counts correctly ordered pairs, ties as one half', () => {
    assert.equal(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75)
    assert.equal(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]), 0.5)
    assert.equal(rocAuc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]), 0.875)
    assert.equal(rocAuc([3, 2, 1], [1, 1, 0]), 1)
  })

  it('ROC AUC of one class is an error, not NaN', () => {
    assert.throws(
      () => rocAuc([0.1, 0.2], [1, 1]),
      /ROC AUC is undefined: the labels hold only positives/,
    )
  })

  it('accuracy at a threshold', () => {
    assert.equal(accuracy([0.2, 0.7, 0.5, 0.4], [0, 1, 1, 1]), 0.75)
    assert.equal(accuracy([0.2, 0.7, 0.5, 0.4], [0, 1, 1, 1], 0.3), 1)
  })

  it('k classes: argmax, accuracy and one-vs-rest AUC from row-major probabilities', () => {
    const probabilities = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.2, 0.5, 0.3, 0.4, 0.4, 0.2]
    const labels = [0, 2, 2, 0]
    assert.deepEqual([...predictedClasses(probabilities, 3)], [0, 2, 1, 0])
    assert.equal(multiclassAccuracy(probabilities, labels, 3), 0.75)
    // Class 2 scores 0.1, 0.6, 0.3, 0.2 with positives the second and third: both above the rest.
    assert.equal(oneVsRestAuc(probabilities, labels, 3, 2), 1)
    assert.equal(
      oneVsRestAuc(probabilities, labels, 3, 0),
      rocAuc([0.7, 0.1, 0.2, 0.4], [1, 0, 0, 1]),
    )
  })
})
