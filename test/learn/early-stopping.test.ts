// Early stopping counts the epochs since the best from the learner's history, which a resumed run
// restores: a run stopped between its best epoch and the stop ends at the same epoch as one that
// never stopped.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { EarlyStopping } from '../../src/learn/callbacks/early-stopping.js'
import { loadResumeState, saveResumeState } from '../../src/learn/checkpoint.js'
import { CancelFit, type Callback } from '../../src/learn/learner.js'
import { learnerOn } from '../helpers/learner.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('early-stopping')
let store: string

before(async () => {
  store = await makeSyntheticStore(root, { train: 32, valid: 16 })
})

/** The valid AUC of each epoch: best at the first, then worse, then a better one too late. */
const AUCS = [0.9, 0.85, 0.8, 0.95, 0.7, 0.6]

/** A learner whose AUC follows AUCS, with early stopping at patience 2. */
function scripted(callbacks: Callback[] = []) {
  const made = learnerOn(store, {
    // Called in validation, once `made` is there.
    metrics: [{ name: 'auc', compute: () => AUCS[made.learn.epoch] as number }],
    callbacks: [new EarlyStopping(2, 'auc'), ...callbacks],
  })
  return made
}

describe('EarlyStopping', () => {
  it('a resumed run stops at the same epoch as an uninterrupted one', async () => {
    const whole = scripted()
    try {
      assert.equal(await whole.learn.fit(AUCS.length), true)
      assert.equal(whole.learn.finishedEarly, true)
      assert.deepEqual(
        whole.learn.history.map((r) => r.epoch),
        [0, 1, 2],
      )
    } finally {
      whole.dispose()
    }

    // Stopped (as by Ctrl-C) in the third epoch, after the best and one worse epoch.
    const dir = join(root, 'run')
    const stop: Callback = {
      afterBatch: (learn) => {
        if (learn.training && learn.epoch === 2) throw new CancelFit()
      },
    }
    const first = scripted([stop])
    try {
      assert.equal(await first.learn.fit(AUCS.length), false)
      await saveResumeState(dir, first.learn, first.learn.stoppedAt!)
    } finally {
      first.dispose()
    }
    const second = scripted()
    try {
      const { position } = loadResumeState(dir, second.learn)
      assert.equal(await second.learn.fit(AUCS.length, 'fit', position), true)
      assert.equal(second.learn.finishedEarly, true)
      assert.deepEqual(
        second.learn.history.map((r) => [r.epoch, r.auc]),
        [
          [0, 0.9],
          [1, 0.85],
          [2, 0.8],
        ],
      )
    } finally {
      second.dispose()
    }
  })
})
