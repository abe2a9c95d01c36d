// Dynamic loss scaling for fp16 (GradScaler): gradients come back unscaled, a step with inf or NaN
// gradients is skipped and halves the scale, a streak of good steps doubles it, the state survives
// a checkpoint; and, the scale being a power of two, a fit with it gives bit-identical weights to
// one without. Checked on the CPU in float32: the rules do not depend on the device.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { GradScaler } from '../../src/learn/callbacks/grad-scaler.js'
import { loadResumeState, saveResumeState } from '../../src/learn/checkpoint.js'
import { join } from 'node:path'
import { CancelBatch, type Learner } from '../../src/learn/learner.js'
import { Linear } from '../../src/nn/index.js'
import * as t from '../../src/torch/index.js'
import { learnerOn } from '../helpers/learner.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

/** One training batch through the scaler's events on a linear layer; `poison` makes a gradient inf. */
function batch(scaler: GradScaler, layer: Linear, x: t.Tensor, poison = false): boolean {
  const learn = { model: layer, training: true, loss: null } as unknown as Learner
  let stepped = true
  t.scope(() => {
    layer.zeroGrad()
    learn.loss = layer.forward(x).sum()
    scaler.beforeBackward(learn)
    ;(learn.loss as t.Tensor).backward()
    if (poison) layer.weight.grad?.fill_(Infinity)
    try {
      scaler.afterBackward(learn)
    } catch (error) {
      if (!(error instanceof CancelBatch)) throw error
      stepped = false
    }
    scaler.afterBatch(learn)
  })
  return stepped
}

describe('GradScaler', () => {
  it('scales the loss and hands the optimizer the unscaled gradients', () => {
    t.manualSeed(3)
    const layer = new Linear(4, 2)
    const x = t.randn([5, 4])
    const scaler = new GradScaler()
    assert.equal(batch(scaler, layer, x), true)
    // d(sum(xW^T + b))/dW is the column sums of x for each output row.
    const expected = x.sum(0).toArray() as number[]
    const grad = layer.weight.grad!.toArray()
    assert.equal(grad.length, 8)
    grad.forEach((g, i) => assert.ok(Math.abs(g - expected[i % 4]!) < 1e-5, `${g}`))
    assert.equal(scaler.scale, 2 ** 16)
    assert.equal(scaler.growthTracker, 1)
    layer.dispose()
    x.dispose()
  })

  it("skips a step with inf gradients and halves the scale; grows after a streak, as PyTorch's", () => {
    const layer = new Linear(3, 1)
    const x = t.ones([2, 3])
    const scaler = new GradScaler({ initScale: 1024, growthInterval: 3 })
    // GradScaler's documented rules for this pattern: 1024 -> 512 (inf), then three good -> 1024,
    // two good and an inf -> 512 with the streak reset.
    const pattern = [true, false, false, false, false, false, true, false]
    const scales = pattern.map((poison) => {
      const stepped = batch(scaler, layer, x, poison)
      assert.equal(stepped, !poison)
      return scaler.scale
    })
    assert.deepEqual(scales, [512, 512, 512, 1024, 1024, 1024, 512, 512])
    assert.equal(scaler.skippedSteps, 2)
    assert.equal(scaler.growthTracker, 1)
    // The state a checkpoint keeps comes back whole.
    const restored = new GradScaler({ growthInterval: 3 })
    restored.loadState(new Map(), scaler.stateCounts())
    assert.deepEqual(restored.stateCounts(), { scale: 512, growthTracker: 1 })
    layer.dispose()
    x.dispose()
  })

  it('leaves a fit bit-identical to one without it (powers of two scale exactly)', async () => {
    const store = await makeSyntheticStore(tempDir('grad-scaler'), { train: 64, valid: 16 })
    const weights = async (withScaler: boolean) => {
      const { learn, dispose } = learnerOn(store, {
        callbacks: withScaler ? [new GradScaler()] : [],
      })
      try {
        await learn.fitOneCycle(1, 1e-2)
        return [...learn.model.parameters()].map((p) => p.toArray())
      } finally {
        dispose()
      }
    }
    assert.deepEqual(await weights(true), await weights(false))
  })

  it('a checkpoint keeps its scale; one saved without loss scaling resumes with a fresh one', async () => {
    const root = tempDir('grad-scaler-resume')
    const store = await makeSyntheticStore(root, { train: 32, valid: 16 })
    const position = { stage: 'fit', epoch: 0, batch: 0 }
    const saveWith = async (dir: string, scaler?: GradScaler) => {
      const { learn, dispose } = learnerOn(store, { callbacks: scaler ? [scaler] : [] })
      try {
        await saveResumeState(dir, learn, position)
      } finally {
        dispose()
      }
    }
    const resumed = (dir: string) => {
      const scaler = new GradScaler()
      const { learn, dispose } = learnerOn(store, { callbacks: [scaler] })
      try {
        loadResumeState(dir, learn)
        return scaler.stateCounts()
      } finally {
        dispose()
      }
    }
    const scaled = new GradScaler()
    scaled.scale = 256
    scaled.growthTracker = 5
    await saveWith(join(root, 'scaled'), scaled)
    assert.deepEqual(resumed(join(root, 'scaled')), { scale: 256, growthTracker: 5 })
    await saveWith(join(root, 'plain'))
    assert.deepEqual(resumed(join(root, 'plain')), { scale: 2 ** 16, growthTracker: 0 })
  })
})
