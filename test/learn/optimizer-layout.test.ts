// Optimizer state is laid out as its weight (channels-last for the convolutions of a channels-last
// model), when made and when restored from a checkpoint (which stores it contiguous): element-wise
// updates of mixed layouts leave libtorch's dense path (Adam on resnet18: 30 against 11 ms a step).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { loadResumeState, saveResumeState } from '../../src/learn/checkpoint.js'
import { CancelFit, type Learner } from '../../src/learn/learner.js'
import type { Tensor } from '../../src/torch/index.js'
import { learnerOn } from '../helpers/learner.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('optimizer-layout')
let store: string

before(async () => {
  store = await makeSyntheticStore(root)
})

/** [checked, mismatched]: convolution weights whose Adam state is not channels-last like them. */
function layouts(learn: Learner): [number, string[]] {
  let checked = 0
  const mismatched: string[] = []
  for (const [name, p] of learn.model.namedParameters()) {
    if (p.shape.length !== 4 || p.isContiguous()) continue
    assert.ok(p.isContiguous('channelsLast'), `${name} is not channels-last`)
    const state = learn.optimizer.state.get(p) as Record<string, Tensor>
    for (const key of ['expAvg', 'expAvgSq']) {
      checked++
      if (!state[key]?.isContiguous('channelsLast')) mismatched.push(`${name} ${key}`)
    }
  }
  return [checked, mismatched]
}

describe('optimizer state layout', () => {
  it('is channels-last for channels-last weights, made fresh and restored', async () => {
    const dir = join(root, 'run')
    const first = learnerOn(store)
    try {
      const stop = {
        afterBatch: (l: Learner) =>
          l.iter === 1 &&
          (() => {
            throw new CancelFit()
          })(),
      }
      first.learn.addCallback(stop)
      assert.equal(await first.learn.fit(1), false)
      const [checked, mismatched] = layouts(first.learn)
      assert.ok(checked > 0, 'no channels-last convolution weights to check')
      assert.deepEqual(mismatched, [])
      await saveResumeState(dir, first.learn, first.learn.stoppedAt!)
    } finally {
      first.dispose()
    }
    const second = learnerOn(store)
    try {
      loadResumeState(dir, second.learn)
      const [checked, mismatched] = layouts(second.learn)
      assert.ok(checked > 0)
      assert.deepEqual(mismatched, [])
    } finally {
      second.dispose()
    }
  })
})
