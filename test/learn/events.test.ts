// The Learner's sixteen events, in fastai's order, driven on a small store of real PCam patches by
// a callback that records every call; the cancel exceptions (batch, epoch, fit); and a store of
// three classes trained with softmax cross-entropy and reported with per-class and macro AUC.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { rocAuc } from '../../src/metrics/metrics.js'
import {
  CancelBatch,
  CancelEpoch,
  CancelFit,
  EVENTS,
  Learner,
  type Callback,
} from '../../src/learn/learner.js'
import { learnerOn } from '../helpers/learner.js'
import { realStore, skipWithoutData } from '../helpers/shared-data.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('events')

/** A callback that records each event it sees (and whether the learner was training). */
function recording(): Callback & { calls: string[] } {
  const calls: string[] = []
  const callback: Callback & { calls: string[] } = { calls }
  for (const event of EVENTS) {
    ;(callback as Record<string, unknown>)[event] = (learn: Learner) =>
      calls.push(`${event}${learn.training ? '' : '*'}`)
  }
  return callback
}

describe('Learner events', { skip: skipWithoutData }, () => {
  let store: string
  before(async () => {
    store = await realStore(root, 40)
  })

  it('calls all sixteen events in fastai order: every batch of training and validation', async () => {
    const recorder = recording()
    const { learn, dispose } = learnerOn(store, { callbacks: [recorder] })
    try {
      assert.equal(await learn.fit(2), true)
      const trainBatches = learn.train.length
      const validBatches = learn.validLoader.length
      const trainBatch = [
        'beforeBatch',
        'afterPred',
        'afterLoss',
        'beforeBackward',
        'afterBackward',
        'beforeStep',
        'afterStep',
        'afterBatch',
      ]
      const validBatch = ['beforeBatch*', 'afterPred*', 'afterLoss*', 'afterBatch*']
      const epoch = [
        'beforeEpoch*',
        'beforeTrain',
        ...Array.from({ length: trainBatches }, () => trainBatch).flat(),
        'afterTrain',
        'beforeValidate*',
        ...Array.from({ length: validBatches }, () => validBatch).flat(),
        'afterValidate*',
        'afterEpoch*',
      ]
      // beforeEpoch comes before training starts (the first) or after validation (the second).
      const expected = ['beforeFit*', ...epoch, ...epoch, 'afterFit*']
      assert.deepEqual(recorder.calls, expected)
      assert.equal(new Set(recorder.calls.map((c) => c.replace('*', ''))).size, EVENTS.length)
      assert.equal(learn.history.length, 2)
      assert.ok(learn.history.every((r) => r.auc >= 0 && r.auc <= 1 && r.trainLoss > 0))
    } finally {
      dispose()
    }
  })

  it('CancelBatch skips the step, CancelEpoch the validation, CancelFit the rest of the fit', async () => {
    const recorder = recording()
    let seen = 0
    const canceller: Callback = {
      beforeStep: () => {
        if (seen++ % 2 === 1) throw new CancelBatch()
      },
      afterTrain: (learn) => {
        if (learn.epoch === 0) throw new CancelEpoch()
      },
      afterBatch: (learn) => {
        if (learn.training && learn.epoch === 1 && learn.iter === 2) throw new CancelFit()
      },
    }
    const { learn, dispose } = learnerOn(store, { callbacks: [recorder, canceller] })
    try {
      assert.equal(await learn.fit(3), false)
      const count = (event: string) => recorder.calls.filter((c) => c === event).length
      const trainBatches = learn.train.length
      // Epoch 0: every batch, half of them without a step; no validation. Epoch 1: 3 batches.
      assert.equal(count('afterBatch'), trainBatches + 3)
      // Every other beforeStep cancels its batch, counting on from epoch 0 into epoch 1.
      assert.equal(count('afterStep'), Math.ceil((trainBatches + 3) / 2))
      assert.equal(count('beforeValidate*'), 0)
      assert.equal(count('afterEpoch*'), 0)
      assert.match(recorder.calls.at(-1)!, /^afterFit/)
      assert.deepEqual(
        {
          stage: learn.stoppedAt?.stage,
          epoch: learn.stoppedAt?.epoch,
          batch: learn.stoppedAt?.batch,
        },
        { stage: 'fit', epoch: 1, batch: 3 },
      )
      assert.equal(learn.history.length, 0)
    } finally {
      dispose()
    }
  })
})

describe('Learner with three classes', () => {
  let store: string
  before(async () => {
    // Class c has a bright square in its own corner: learnable in a few epochs.
    store = await makeSyntheticStore(join(root, 'three'), {
      train: 144,
      valid: 48,
      classes: 3,
      seed: 3,
    })
  })

  it('trains with softmax cross-entropy and reports per-class and macro one-vs-rest AUC', async () => {
    const { learn, dispose } = learnerOn(store, { numClasses: 3 })
    try {
      await learn.fitOneCycle(4, 3e-3)
      const record = learn.history.at(-1)!
      const valid = learn.valid!
      assert.equal(valid.classes, 3)
      const n = valid.labels.length
      for (let i = 0; i < n; i++) {
        const row = valid.probabilities.subarray(i * 3, i * 3 + 3)
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'rows are softmax')
      }
      const perClass = [0, 1, 2].map((k) =>
        rocAuc(
          Float32Array.from({ length: n }, (_, i) => valid.probabilities[i * 3 + k] as number),
          valid.labels.map((y) => (y === k ? 1 : 0)),
        ),
      )
      perClass.forEach((auc, k) => assert.equal(record[`auc_class${k}`], auc))
      assert.ok(
        Math.abs(record.auc - perClass.reduce((a, b) => a + b, 0) / 3) < 1e-12,
        'macro AUC is the mean',
      )
      assert.ok(record.accuracy > 0.8, `accuracy ${record.accuracy}`)
      assert.ok(record.trainLoss < learn.history[0]!.trainLoss, 'the loss falls')
    } finally {
      dispose()
    }
  })
})
