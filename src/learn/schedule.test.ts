// One-cycle shape and discriminative rates, on hand-computed points.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { oneCycleAt, spreadLr } from './schedule.js'

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`)

describe('one-cycle schedule', () => {
  it('starts at lrMax/div, peaks at pctStart, ends at lrMax/divFinal; momentum mirrors it', () => {
    close(oneCycleAt(0).lrScale, 1 / 25)
    close(oneCycleAt(0.25).lrScale, 1)
    close(oneCycleAt(1).lrScale, 1e-5)
    close(oneCycleAt(0).mom, 0.95)
    close(oneCycleAt(0.25).mom, 0.85)
    close(oneCycleAt(1).mom, 0.95)
    close(oneCycleAt(0.125).lrScale, (1 + 1 / 25) / 2) // half-way up the cosine
  })

  it('spreads a range geometrically over layer groups', () => {
    const lrs = spreadLr([1e-5, 1e-3], 3)
    close(lrs[0]!, 1e-5)
    close(lrs[1]!, 1e-4)
    close(lrs[2]!, 1e-3)
    assert.deepEqual(spreadLr(0.01, 2), [0.01, 0.01])
  })
})
