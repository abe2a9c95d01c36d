// ROC AUC on hand-computed cases, ties included, and the single-class error.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { accuracy, rocAuc } from './metrics.js'

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
})
