// How the Learner builds its optimizer groups: one per layer group, or a decayed and an undecayed
// one per layer group when batch norm and biases skip weight decay.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Learner, type EpochLoader } from '../../src/learn/learner.js'
import { createModel } from '../../src/models/registry.js'
import { BatchNorm1d, BatchNorm2d } from '../../src/nn/index.js'
import * as t from '../../src/torch/index.js'

// Building the optimizer reads no batch.
const noLoader: EpochLoader = { length: 1, epoch: () => [] }
const decay = (learn: Learner) =>
  learn.optimizer.paramGroups as unknown as { params: unknown[]; weightDecay: number }[]

describe('Learner parameter groups', () => {
  it('decays every parameter by default, one group per layer group', () => {
    const model = createModel({ arch: 'small', numClasses: 1, head: 'concat' })
    const learn = new Learner(model, noLoader, noLoader, { wd: 0.1 })
    assert.equal(learn.optimizer.paramGroups.length, model.layerGroups().length)
    for (const g of decay(learn)) assert.equal(g.weightDecay, 0.1)
    learn.dispose()
    model.dispose()
  })

  it('wdSkipNorm exempts exactly the batch-norm parameters and biases', () => {
    const model = createModel({ arch: 'small', numClasses: 1, head: 'concat' })
    const learn = new Learner(model, noLoader, noLoader, { wd: 0.1, wdSkipNorm: true })
    const norm = new Set<unknown>()
    for (const m of model.modules())
      if (m instanceof BatchNorm2d || m instanceof BatchNorm1d)
        for (const p of m.parameters(false)) norm.add(p)
    const names = new Map([...model.namedParameters()].map(([n, p]) => [p as unknown, n]))
    let exempt = 0
    for (const g of decay(learn)) {
      for (const p of g.params) {
        const shouldSkip = norm.has(p) || names.get(p)!.endsWith('.bias')
        assert.equal(g.weightDecay, shouldSkip ? 0 : 0.1, names.get(p))
        if (shouldSkip) exempt++
      }
    }
    assert.ok(exempt > 0 && exempt < names.size)
    assert.equal(
      learn.optimizer.paramGroups.reduce((n, g) => n + g.params.length, 0),
      names.size,
      'every parameter is in one group',
    )
    learn.dispose()
    model.dispose()
  })

  it("freeze() keeps the body's batch norm trainable (train_bn), or nothing of the body with trainBn false", () => {
    const model = createModel({ arch: 'resnet18', numClasses: 1, head: 'concat' })
    const norm = new Set<unknown>()
    for (const m of model.body.modules())
      if (m instanceof BatchNorm2d) for (const p of m.parameters(false)) norm.add(p)
    const x = t.rand([2, 3, 32, 32])
    for (const trainBn of [true, false]) {
      const learn = new Learner(model, noLoader, noLoader, { trainBn })
      learn.freeze()
      for (const [name, p] of model.body.namedParameters())
        assert.equal(p.requiresGrad, trainBn && norm.has(p), name)
      for (const [name, p] of model.head.namedParameters()) assert.ok(p.requiresGrad, name)
      // Fully frozen, autograd records nothing of the body: its output needs no gradient.
      assert.equal(model.body.forwardFeatures(x).requiresGrad, trainBn)
      learn.unfreeze()
      for (const p of model.parameters()) assert.ok(p.requiresGrad)
      learn.dispose()
    }
    model.dispose()
  })
})
