// The Learner's events, in fastai's order, driven on a small store of real PCam patches by a
// callback that records every call; the seven cancel exceptions, event by event, on in-memory
// batches; and a store of three classes trained with softmax cross-entropy and reported with
// per-class and macro AUC.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { rocAuc } from '../../src/metrics/metrics.js'
import { ExponentialMovingAverage } from '../../src/learn/callbacks/ema.js'
import { MixedPrecision } from '../../src/learn/callbacks/mixed-precision.js'
import { native } from '../../src/torch/native.js'
import {
  CancelBackward,
  CancelBatch,
  CancelEpoch,
  CancelFit,
  CancelStep,
  CancelTrain,
  CancelValidate,
  EVENTS,
  Learner,
  type Callback,
  type LearnerEvent,
} from '../../src/learn/learner.js'
import { learnerOn } from '../helpers/learner.js'
import { tinyLearner, type PointClassifier } from '../helpers/tiny-learner.js'
import { realStore, skipWithoutData } from '../helpers/shared-data.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('events')

/** A callback that records each event it sees (and whether the learner was training). */
function recording(): Callback & { calls: string[] } {
  const calls: string[] = []
  const callback: Callback & { calls: string[] } = { calls }
  for (const event of EVENTS) {
    ;(callback as unknown as Record<string, unknown>)[event] = (learn: Learner) =>
      calls.push(`${event}${learn.training ? '' : '*'}`)
  }
  return callback
}

// fastai's Learner._with_events(f, event, ex): try { before_<event>; f() } except ex:
// after_cancel_<event>; then after_<event>, cancelled or not. These are the sequences it gives,
// written out by hand, for a fit of 1 epoch (2 training batches, 1 validation batch) unless said.
const TRAIN_BATCH = [
  'beforeBatch',
  'afterPred',
  'afterLoss',
  'beforeBackward',
  'afterBackward',
  'beforeStep',
  'afterStep',
  'afterBatch',
]
const VALID_BATCH = ['beforeBatch', 'afterPred', 'afterLoss', 'afterBatch']
const VALIDATION = ['beforeValidate', ...VALID_BATCH, 'afterValidate']
describe('Learner events', { skip: skipWithoutData }, () => {
  let store: string
  before(async () => {
    store = await realStore(root, 40)
  })

  it('calls every event but the cancels in fastai order: every batch of training and validation', async () => {
    const recorder = recording()
    const { learn, dispose } = learnerOn(store, { callbacks: [recorder] })
    try {
      assert.equal(await learn.fit(2), true)
      const trainBatches = learn.train.length
      const validBatches = learn.validLoader.length
      const trainBatch = TRAIN_BATCH
      // '*': called with learn.training false.
      const validBatch = VALID_BATCH.map((event) => `${event}*`)
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
      const uncancelled = EVENTS.filter((e) => !e.startsWith('afterCancel'))
      assert.equal(new Set(recorder.calls.map((c) => c.replace('*', ''))).size, uncancelled.length)
      assert.equal(learn.history.length, 2)
      assert.ok(learn.history.every((r) => r.auc >= 0 && r.auc <= 1 && r.trainLoss > 0))
    } finally {
      dispose()
    }
  })
})

const EPOCH = [
  'beforeEpoch',
  'beforeTrain',
  ...TRAIN_BATCH,
  ...TRAIN_BATCH,
  'afterTrain',
  ...VALIDATION,
  'afterEpoch',
]

/** Records every event; `cancel` throws at the first call of `at` that `when` accepts. */
function cancelling(at: LearnerEvent, error: () => Error, when = (_: Learner) => true) {
  const calls: string[] = []
  let thrown = false
  const callback: Callback = {}
  for (const event of EVENTS)
    (callback as unknown as Record<string, unknown>)[event] = (learn: Learner) => {
      calls.push(event)
      if (event === at && !thrown && when(learn)) {
        thrown = true
        throw error()
      }
    }
  return { callback, calls }
}

describe('Learner cancel semantics, event by event as fastai', () => {
  async function run(
    at: LearnerEvent,
    error: () => Error,
    { epochs = 1, when }: { epochs?: number; when?: (learn: Learner) => boolean } = {},
  ) {
    const { callback, calls } = cancelling(at, error, when)
    const tiny = tinyLearner(2, 1, { opt: 'sgd', wd: 0, callbacks: [callback] })
    try {
      const before = tiny.model.fc.weight.toArray()
      const completed = await tiny.learn.fit(epochs)
      return {
        calls,
        completed,
        learn: tiny.learn,
        history: tiny.learn.history.length,
        moved: tiny.model.fc.weight.toArray().some((w, i) => w !== before[i]),
      }
    } finally {
      tiny.dispose()
    }
  }
  const firstTrainBatch = (learn: Learner) => learn.training && learn.iter === 0

  it('runs every uncancelled event in order, and no afterCancel event', async () => {
    const { calls, completed, history } = await run('afterFit', () => new Error('unused'), {
      when: () => false,
    })
    assert.deepEqual(calls, ['beforeFit', ...EPOCH, 'afterFit'])
    assert.equal(completed, true)
    assert.equal(history, 1)
  })

  it('CancelBackward skips backward; afterBackward and the step still run', async () => {
    const { calls } = await run('beforeBackward', () => new CancelBackward(), {
      when: firstTrainBatch,
    })
    const cancelled = [
      'beforeBatch',
      'afterPred',
      'afterLoss',
      'beforeBackward',
      'afterCancelBackward',
      'afterBackward',
      'beforeStep',
      'afterStep',
      'afterBatch',
    ]
    assert.deepEqual(calls.slice(3, 3 + cancelled.length), cancelled)
  })

  it('CancelStep skips the step (the weights stay); afterStep still runs', async () => {
    const { calls, moved } = await run('beforeStep', () => new CancelStep(), {
      when: firstTrainBatch,
    })
    const cancelled = [
      'beforeBatch',
      'afterPred',
      'afterLoss',
      'beforeBackward',
      'afterBackward',
      'beforeStep',
      'afterCancelStep',
      'afterStep',
      'afterBatch',
    ]
    assert.deepEqual(calls.slice(3, 3 + cancelled.length), cancelled)
    assert.equal(moved, true, 'the second batch steps')
    const always = await run('beforeStep', () => new CancelStep(), { when: () => true })
    assert.equal(always.calls.filter((c) => c === 'afterCancelStep').length, 1)
  })

  it('CancelBatch skips the rest of the batch; afterBatch still runs', async () => {
    const { calls } = await run('afterPred', () => new CancelBatch(), { when: firstTrainBatch })
    assert.deepEqual(calls.slice(0, 8), [
      'beforeFit',
      'beforeEpoch',
      'beforeTrain',
      'beforeBatch',
      'afterPred',
      'afterCancelBatch',
      'afterBatch',
      'beforeBatch',
    ])
  })

  it('CancelTrain skips the other training batches; afterTrain and validation still run', async () => {
    const { calls, history } = await run('afterBatch', () => new CancelTrain(), {
      when: firstTrainBatch,
    })
    assert.deepEqual(calls, [
      'beforeFit',
      'beforeEpoch',
      'beforeTrain',
      ...TRAIN_BATCH,
      'afterCancelTrain',
      'afterTrain',
      ...VALIDATION,
      'afterEpoch',
      'afterFit',
    ])
    assert.equal(history, 1)
  })

  it('CancelValidate skips validation and its record; afterValidate and afterEpoch still run', async () => {
    const { calls, history, learn } = await run('beforeValidate', () => new CancelValidate())
    assert.deepEqual(calls, [
      'beforeFit',
      'beforeEpoch',
      'beforeTrain',
      ...TRAIN_BATCH,
      ...TRAIN_BATCH,
      'afterTrain',
      'beforeValidate',
      'afterCancelValidate',
      'afterValidate',
      'afterEpoch',
      'afterFit',
    ])
    assert.equal(history, 0)
    assert.equal(learn.valid, null)
  })

  it('CancelEpoch skips the rest of the epoch; afterEpoch runs and the next epoch follows', async () => {
    const { calls, history, completed } = await run('afterTrain', () => new CancelEpoch(), {
      epochs: 2,
    })
    assert.deepEqual(calls, [
      'beforeFit',
      'beforeEpoch',
      'beforeTrain',
      ...TRAIN_BATCH,
      ...TRAIN_BATCH,
      'afterTrain',
      'afterCancelEpoch',
      'afterEpoch',
      ...EPOCH,
      'afterFit',
    ])
    assert.equal(history, 1)
    assert.equal(completed, true)
  })

  it('CancelFit stops where it is thrown; afterCancelFit and afterFit run; the stop is resumable', async () => {
    const { calls, completed, learn } = await run('afterBatch', () => new CancelFit(), {
      when: firstTrainBatch,
    })
    assert.deepEqual(calls, [
      'beforeFit',
      'beforeEpoch',
      'beforeTrain',
      ...TRAIN_BATCH,
      'afterCancelFit',
      'afterFit',
    ])
    assert.equal(completed, false)
    assert.deepEqual(
      { epoch: learn.stoppedAt?.epoch, batch: learn.stoppedAt?.batch },
      { epoch: 0, batch: 1 },
    )
  })

  it('CancelFit(finished) after an epoch counts the fit as complete', async () => {
    const { calls, completed, learn } = await run('afterEpoch', () => new CancelFit(true), {
      epochs: 3,
    })
    assert.deepEqual(calls, ['beforeFit', ...EPOCH, 'afterCancelFit', 'afterFit'])
    assert.equal(completed, true)
    assert.equal(learn.finishedEarly, true)
    assert.equal(learn.stoppedAt, null)
  })

  it('a stop resumes where the fit stood: next batch, its validation, or the next epoch', async () => {
    const stopAt = async (
      callbacks: Callback[],
      epochs = 2,
      from?: { stage: string; epoch: number; batch: number },
    ) => {
      const tiny = tinyLearner(3, 1, { callbacks })
      try {
        assert.equal(await tiny.learn.fit(epochs, 'fit', from), false)
        const { epoch, batch } = tiny.learn.stoppedAt!
        return { epoch, batch, records: tiny.learn.history.length }
      } finally {
        tiny.dispose()
      }
    }
    const fitStop = (event: LearnerEvent, when = (_: Learner) => true): Callback => ({
      order: 200,
      [event]: (learn: Learner) => {
        if (when(learn)) throw new CancelFit()
      },
    })
    // After the epoch's end (its record and checkpoint made): the next epoch.
    assert.deepEqual(await stopAt([fitStop('afterEpoch')]), { epoch: 1, batch: 0, records: 1 })
    // Training cut short by CancelTrain, then a stop: the validation is what is left.
    const cutShort: Callback = {
      afterBatch: (learn) => {
        if (learn.training) throw new CancelTrain()
      },
    }
    assert.deepEqual(await stopAt([cutShort, fitStop('afterTrain')]), {
      epoch: 0,
      batch: 3,
      records: 0,
    })
    // Stopped before its first epoch: where it was to start.
    const from = { stage: 'fit', epoch: 1, batch: 1 }
    assert.deepEqual(await stopAt([fitStop('beforeFit')], 2, from), {
      epoch: 1,
      batch: 1,
      records: 0,
    })
  })

  it('a resumed fit that validates a recorded epoch again replaces its record', async () => {
    const tiny = tinyLearner(2, 1)
    try {
      await tiny.learn.fit(1)
      // A second fit of the same name is a new record; one resumed in that epoch is the same.
      await tiny.learn.fit(1)
      assert.equal(tiny.learn.history.length, 2)
      await tiny.learn.fit(1, 'fit', { stage: 'fit', epoch: 0, batch: 2 })
      assert.equal(tiny.learn.history.length, 2)
    } finally {
      tiny.dispose()
    }
  })

  it('leaves autocast off however a cancel cuts a forward pass short', async () => {
    const cancelInForward: Callback = {
      order: 10,
      beforeBatch: (learn) => {
        if (learn.training && learn.epoch === 0 && learn.iter === 0) throw new CancelEpoch()
      },
    }
    const tiny = tinyLearner(2, 1, {
      callbacks: [new MixedPrecision('bf16', 'cpu'), cancelInForward],
    })
    try {
      // The next epoch's forward passes must not take "on" for the state to go back to.
      await tiny.learn.fit(2)
      assert.equal(native.isAutocastEnabled('cpu'), false)
    } finally {
      tiny.dispose()
    }
  })

  it('an error that is no cancel propagates, after afterFit has run', async () => {
    const { callback, calls } = cancelling(
      'afterLoss',
      () => new RangeError('boom'),
      firstTrainBatch,
    )
    const tiny = tinyLearner(2, 1, { callbacks: [callback] })
    try {
      await assert.rejects(tiny.learn.fit(1), RangeError)
      assert.equal(calls.at(-1), 'afterFit')
      assert.equal(calls.filter((c) => c.startsWith('afterCancel')).length, 0)
    } finally {
      tiny.dispose()
    }
  })

  it("puts EMA's raw weights back when an epoch is cancelled after validation", async () => {
    // The weights each epoch trained to, and those the next starts from: EMA swaps its average
    // in for validation, and must swap the trained ones back even when the epoch is cancelled.
    const trainedTo: number[][] = []
    const startedFrom: number[][] = []
    const weights = (learn: Learner) => (learn.model as PointClassifier).fc.weight.toArray()
    const snapshot: Callback = {
      order: -1,
      beforeTrain: (learn) => void startedFrom.push(weights(learn)),
      afterTrain: (learn) => void trainedTo.push(weights(learn)),
    }
    const cancel: Callback = {
      order: 50,
      afterValidate: () => {
        throw new CancelEpoch()
      },
    }
    const ema = new ExponentialMovingAverage(0.9)
    const tiny = tinyLearner(4, 1, { callbacks: [snapshot, ema, cancel] })
    try {
      await tiny.learn.fit(2)
      assert.equal(tiny.learn.history.length, 2, 'validated, then cancelled')
      assert.notDeepEqual(startedFrom[0], trainedTo[0], 'the first epoch trained')
      assert.deepEqual(
        startedFrom[1],
        trainedTo[0],
        'the next epoch starts from the trained weights',
      )
      assert.deepEqual(tiny.model.fc.weight.toArray(), trainedTo[1])
    } finally {
      ema.dispose()
      tiny.dispose()
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
