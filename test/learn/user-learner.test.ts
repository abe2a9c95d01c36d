// The Learner with everything its user brings: a model of their own (an nn.Module with layer
// groups), a loader of their own (an EpochLoader class that makes fresh batches), an optimizer of
// their own (an Optimizer subclass through `opt`) and callbacks of their own, on 2-D points whose
// class is the sign of x0 + x1.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ValidationError } from '../../src/errors.js'
import {
  Learner,
  type Callback,
  type EpochLoader,
  type LearnerBatch,
} from '../../src/learn/learner.js'
import { Linear, Module, ReLU } from '../../src/nn/index.js'
import {
  manualSeed,
  Optimizer,
  randn,
  Generator as TorchGenerator,
  type ParamGroup,
  type Tensor,
} from '../../src/torch/index.js'
import { PointClassifier, pointBatches } from '../helpers/tiny-learner.js'

/** Two layers; the hidden one is the body, the output the head. */
class PointNet extends Module {
  readonly hidden = this.registerModule('hidden', new Linear(2, 8))
  readonly relu = this.registerModule('relu', new ReLU())
  readonly out = this.registerModule('out', new Linear(8, 1))
  forward(x: Tensor): Tensor {
    return this.out.forward(this.relu.forward(this.hidden.forward(x)))
  }
  layerGroups(): Tensor[][] {
    return [[...this.hidden.parameters()], [...this.out.parameters()]]
  }
}

/** Makes each epoch's batches afresh (its own seed per epoch) and counts what it hands out. */
class PointLoader implements EpochLoader {
  readonly batchesAreFresh = true
  readonly made: Tensor[] = []
  constructor(readonly length: number) {}
  *epoch(epoch: number, from = 0): Generator<LearnerBatch> {
    const generator = new TorchGenerator(100 + epoch)
    for (let b = 0; b < this.length; b++) {
      const x = randn([32, 2], { generator })
      if (b < from) {
        x.dispose()
        continue
      }
      const batch = { x, y: x.sum(1).gt(0).float() }
      this.made.push(batch.x, batch.y)
      yield batch
    }
  }
}

/** Plain gradient descent, p -= lr * grad, counting its steps. */
class PlainDescent extends Optimizer<{ lr: number }, never> {
  steps = 0
  protected stepGroup(group: ParamGroup<{ lr: number }>, params: Tensor[]): void {
    this.steps++
    for (const p of params) p.add_(p.grad as Tensor, -group.lr)
  }
}

describe('Learner with a user model, loader, optimizer and callback', () => {
  it('trains to separate the points with one-cycle rates set on the user optimizer', async () => {
    manualSeed(3)
    const model = new PointNet()
    const train = new PointLoader(8)
    const valid = pointBatches(4, 64)
    let optimizer: PlainDescent | undefined
    const lrs: number[] = []
    const seen = { trainBatches: 0, validBatches: 0 }
    const watcher: Callback = {
      beforeStep: (learn) => void lrs.push(learn.optimizer.paramGroups.at(-1)!.lr),
      afterBatch: (learn) => void seen[learn.training ? 'trainBatches' : 'validBatches']++,
    }
    const learn = new Learner(model, train, valid, {
      opt: (groups, defaults) => (optimizer = new PlainDescent(groups, defaults)),
      callbacks: [watcher],
    })
    try {
      assert.ok(learn.optimizer instanceof PlainDescent)
      assert.equal(learn.optimizer.paramGroups.length, 2, 'one group per layer group')
      await learn.fitOneCycle(4, 0.5)
      const record = learn.history.at(-1)!
      assert.ok(record.accuracy > 0.9, `accuracy ${record.accuracy}`)
      assert.ok(record.trainLoss < learn.history[0]!.trainLoss, 'the loss falls')
      assert.deepEqual(seen, { trainBatches: 32, validBatches: 16 })
      // Two groups stepped per batch; the rate warmed up to the peak and annealed.
      assert.equal(optimizer!.steps, 2 * 32)
      const peak = Math.max(...lrs)
      assert.ok(Math.abs(peak - 0.5) < 0.01, `peak ${peak}`)
      assert.ok(lrs[0]! < peak / 10 && lrs.at(-1)! < peak / 100, 'one cycle')
      // Fresh batches are the learner's to dispose; the array's stay the caller's.
      assert.ok(train.made.length > 0 && train.made.every((t) => t.isDisposed))
      assert.ok(valid.every((b) => !b.x.isDisposed && !b.y.isDisposed))
    } finally {
      learn.dispose()
      model.dispose()
      for (const b of valid) for (const t of [b.x, b.y]) t.dispose()
    }
  })

  it('freezes all but the last layer group of a user model', async () => {
    manualSeed(4)
    const model = new PointNet()
    const learn = new Learner(model, pointBatches(2), pointBatches(1), { wd: 0 })
    try {
      const body = model.hidden.weight.toArray()
      const head = model.out.weight.toArray()
      learn.freeze()
      await learn.fit(1)
      assert.deepEqual(model.hidden.weight.toArray(), body, 'the body stays')
      assert.notDeepEqual(model.out.weight.toArray(), head, 'the head trains')
    } finally {
      learn.dispose()
      model.dispose()
    }
  })

  it('trains a model without layer groups as one group, and says why freeze() cannot', () => {
    const model = new PointClassifier()
    const learn = new Learner(model, pointBatches(1), pointBatches(1))
    try {
      assert.equal(learn.optimizer.paramGroups.length, 1)
      assert.throws(() => learn.freeze(), /layerGroups\(\)/)
    } finally {
      learn.dispose()
      model.dispose()
    }
  })

  it('refuses batches that are neither a loader nor an iterable with a length', () => {
    const model = new PointClassifier()
    for (const bad of [42, null, { [Symbol.iterator]: [][Symbol.iterator] }, []])
      assert.throws(
        () => new Learner(model, bad as never, pointBatches(1)),
        (e: unknown) => e instanceof ValidationError && /training batches/.test(e.message),
      )
    model.dispose()
  })

  it('adds and removes callbacks, calling them by order then by when they were added', async () => {
    const model = new PointClassifier()
    const learn = new Learner(model, pointBatches(1), pointBatches(1))
    const calls: string[] = []
    const named = (name: string, order?: number): Callback => ({
      order,
      beforeFit: () => void calls.push(name),
    })
    const late = named('late', 10)
    const a = named('a')
    const b = named('b')
    const early = named('early', -10)
    try {
      learn.addCallback(late, a).addCallback(b, early)
      learn.addCallback(a)
      assert.equal(learn.callbacks.filter((cb) => cb === a).length, 1, 'added once')
      await learn.fit(1)
      assert.deepEqual(calls, ['early', 'a', 'b', 'late'])
      calls.length = 0
      learn.removeCallback(a, late)
      await learn.fit(1)
      assert.deepEqual(calls, ['early', 'b'])
      assert.throws(() => learn.removeCallback(learn.recorder), /Recorder/)
      calls.length = 0
      await learn.withCallbacks([named('scoped')], () => learn.fit(1))
      await learn.fit(1)
      assert.deepEqual(calls, ['early', 'b', 'scoped', 'early', 'b'])
    } finally {
      learn.dispose()
      model.dispose()
    }
  })
})
