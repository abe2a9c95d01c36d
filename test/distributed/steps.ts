/**
 * What the data-parallel equivalence test trains: a small network without batch norm (whose
 * per-rank statistics would make ranks and one process differ by design) on fixed global batches.
 * @module
 */
import { createModel } from '../../src/models/registry.js'
import { Conv2d, Flatten, Linear, ReLU, Sequential, type Module } from '../../src/nn/index.js'
import {
  bceWithLogits,
  Generator,
  rand,
  scope,
  SGD,
  type Optimizer,
  type Tensor,
} from '../../src/torch/index.js'

export const STEPS = 5
export const GLOBAL_BATCH = 8

export function stepsNetwork(): Module {
  return new Sequential(
    new Conv2d(3, 4, 3, { padding: 1 }),
    new ReLU(),
    new Conv2d(4, 2, 3, { stride: 2, padding: 1 }),
    new Flatten(),
    new Linear(2 * 4 * 4, 1),
  )
}

/** The small CNN with batch norm everywhere (its linear head has no dropout to differ by). */
export function batchNormNetwork(): Module {
  return createModel({ arch: 'small', numClasses: 1, head: 'linear' })
}

/**
 * SGD for the batch-norm comparison: Adam divides by the gradient's own size, which turns float
 * rounding in near-zero gradients into visible differences; SGD keeps them at rounding's size.
 */
export function bnOptimizer(model: Module): Optimizer<{ lr: number }, unknown> {
  return new SGD([...model.parameters()], { lr: 0.05, momentum: 0.9 }) as Optimizer<
    { lr: number },
    unknown
  >
}

/** The global batch of a step: the same on every rank and in the single-process reference. */
export function globalBatch(step: number, side = 8): { x: Tensor; y: Tensor } {
  const generator = new Generator(1000 + step)
  const x = rand([GLOBAL_BATCH, 3, side, side], { generator })
  const y = rand([GLOBAL_BATCH], { generator }).gt(0.5).float()
  return { x, y }
}

export function trainSteps(
  model: Module,
  optimizer: Optimizer<{ lr: number }, unknown>,
  batch: (step: number) => { x: Tensor; y: Tensor },
  afterBackward: (params: Tensor[]) => void = () => undefined,
): void {
  for (let step = 0; step < STEPS; step++) {
    scope(() => {
      const { x, y } = batch(step)
      optimizer.zeroGrad()
      bceWithLogits(model.forward(x).reshape(-1), y).backward()
      afterBackward([...model.parameters()])
      optimizer.step()
    })
  }
}
