/**
 * Stochastic weight averaging (Izmailov et al., 2018; torch.optim.swa_utils): a stage of epochs at
 * constant rates after the last one-cycle stage, the weights averaged equally at the end of each,
 * batch-norm statistics recomputed for the average (update_bn), and the average validated and
 * saved as the run's model.
 * @module
 */
import { releaseBatch, type EpochLoader } from '../batches.js'
import { BatchNorm1d, BatchNorm2d, type Module } from '../../nn/index.js'
import { noGrad, scope, type Tensor } from '../../torch/index.js'
import { AveragedWeights } from '../averaged-weights.js'
import type { CheckpointedCallback } from '../checkpoint.js'
import type { Stage } from '../fine-tune.js'
import type { Learner } from '../learner.js'

/** The name of SWA's stage, in metrics.jsonl and checkpoints. */
export const SWA_STAGE = 'swa'

/**
 * SWA's rates: the last stage's peak rates (discriminative ones too) times this, held constant.
 * One-cycle ends near zero (peak / 1e5), where the weights no longer move; SWA needs them to
 * wander around the minimum, at a rate the fit has already trained at stably late in its
 * annealing: peak / 10 is where one-cycle stands at 85% of a fit.
 */
export const SWA_LR_SCALE = 0.1

/** The SWA stage that follows `last`: `epochs` at its peak rates times SWA_LR_SCALE, unfrozen. */
export function swaStage(last: Stage, epochs: number): Stage {
  const lr: Stage['lr'] =
    typeof last.lr === 'number'
      ? last.lr * SWA_LR_SCALE
      : [last.lr[0] * SWA_LR_SCALE, last.lr[1] * SWA_LR_SCALE]
  return { stage: SWA_STAGE, epochs, lr, frozen: false, constant: true, size: last.size }
}

/**
 * Recomputes batch-norm running statistics with one pass over `inputs` in training mode, without
 * gradients: the statistics are reset and averaged equally over the batches (momentum null), as
 * torch.optim.swa_utils.update_bn does. The inputs stay the caller's.
 * @see torch.optim.swa_utils.update_bn
 */
export function updateBn(model: Module, inputs: Iterable<Tensor>): void {
  const norms = [...model.modules()].filter(
    (m): m is BatchNorm1d | BatchNorm2d => m instanceof BatchNorm2d || m instanceof BatchNorm1d,
  )
  if (norms.length === 0) return
  const momenta = norms.map((m) => m.momentum)
  const wasTraining = model.training
  noGrad(() => {
    for (const m of norms) {
      m.runningMean?.zero_()
      m.runningVar?.fill_(1)
      m.numBatchesTracked?.zero_()
      m.momentum = null
    }
  })
  model.train()
  try {
    for (const x of inputs) {
      noGrad(() =>
        scope(() => {
          model.forward(x)
        }),
      )
    }
  } finally {
    norms.forEach((m, i) => (m.momentum = momenta[i] as number | null))
    model.train(wasTraining)
  }
}

/** The inputs of one training epoch, each batch released once the next is asked for. */
function* epochInputs(loader: EpochLoader, epoch: number): Generator<Tensor> {
  for (const batch of loader.epoch(epoch)) {
    try {
      yield batch.x
    } finally {
      releaseBatch(loader, batch)
    }
  }
}

/**
 * SWA over the epochs of one stage: after each epoch's training its weights join the equal
 * average (avg += (w − avg) / (n + 1)), the average goes into the model and its batch-norm
 * statistics are recomputed over that epoch's training batches (same order and augmentation),
 * so the epoch's validation, record and saved model are the average's. After the epoch the raw
 * weights and statistics come back, and training goes on from them.
 *
 * It swaps in at afterTrain, not beforeValidate: data-parallel ranks make their statistics equal
 * before validation (DataParallelSync), and that must see the recomputed ones.
 * @see torch.optim.swa_utils.AveragedModel
 */
export class StochasticWeightAveraging implements CheckpointedCallback {
  /**
   * 5: its afterEpoch runs after SaveBest (0) has saved the average, before RunCheckpoint (10)
   * saves the raw weights to resume from.
   */
  readonly order = 5
  /** Its name in checkpoints: the averaged tensors are saved as `swa.<parameter>`. */
  readonly stateName = 'swa'
  /** Models averaged so far. */
  averaged = 0
  readonly #weights = new AveragedWeights()

  constructor(
    /** The name of the stage it averages (default SWA_STAGE); other fits are left alone. */
    readonly stage = SWA_STAGE,
  ) {}

  /**
   * In its stage: adds the weights to the average, swaps it into the model and recomputes its
   * batch-norm statistics over the epoch's training batches.
   */
  afterTrain(learn: Learner): void {
    if (learn.stage !== this.stage) return
    this.#accumulate(learn.model)
    // Buffers too: update_bn recomputes the statistics for the average.
    this.#weights.swapIn(learn.model, { buffers: true })
    updateBn(learn.model, epochInputs(learn.train, learn.epoch))
  }

  #accumulate(model: Module): void {
    const n = this.averaged
    const average = this.#weights.averageOn(model)
    if (n === 0 || !average) this.#weights.reset(model)
    else
      noGrad(() => {
        for (const [name, p] of model.namedParameters()) {
          const avg = average.get(name) as Tensor
          scope(() => {
            avg.add_(p.sub(avg).div(n + 1))
          })
        }
      })
    this.averaged = n + 1
  }

  /** Puts the raw weights and statistics back, for training to go on from them. */
  afterEpoch(learn: Learner): void {
    this.#weights.restore(learn.model)
  }

  /** Puts the raw weights and statistics back, however the fit ended. */
  afterFit(learn: Learner): void {
    this.#weights.restore(learn.model)
  }

  /** The average by parameter name (empty before the stage's first epoch ends). */
  stateTensors(): Map<string, Tensor> {
    return this.#weights.tensors()
  }

  /** The number of models averaged, which weighs the next one. */
  stateCounts(): Record<string, number> {
    return { averaged: this.averaged }
  }

  loadState(tensors: Map<string, Tensor>, counts: Record<string, number>): void {
    this.dispose()
    this.averaged = tensors.size > 0 ? (counts.averaged ?? 0) : 0
    if (tensors.size > 0) this.#weights.reset(tensors)
  }

  /** Frees the averaged tensors, and the raw ones kept while the average is in the model. */
  dispose(): void {
    this.#weights.dispose()
  }
}
