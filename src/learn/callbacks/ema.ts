/**
 * Exponential moving average of the weights (torch.optim.swa_utils.AveragedModel with an EMA
 * avg_fn, timm's ModelEma): validation, the best model and model.safetensors see the average,
 * training goes on from the raw weights.
 * @module
 */
import { ValidationError } from '../../errors.js'
import { noGrad, type Tensor } from '../../torch/index.js'
import { AveragedWeights } from '../averaged-weights.js'
import type { CheckpointedCallback } from '../checkpoint.js'
import type { Learner } from '../learner.js'

/**
 * After every optimizer step, ema = d·ema + (1 − d)·param for every parameter, with the decay
 * warmed up as d = min(decay, (1 + t) / (10 + t)) at the t-th step (TensorFlow's
 * ExponentialMovingAverage with num_updates). Without the warm-up the average starts from the
 * initial weights and forgets them slowly: at decay 0.999, pcam's 4-epoch recipes (about 1,250
 * steps on 20,000 patches) would end with 29% of the random initialisation still in the average.
 *
 * Before validation the averaged weights are swapped into the model; after the epoch (once
 * SaveBest has saved them, before RunCheckpoint saves the raw weights to resume from) the raw
 * ones are swapped back. Buffers (batch-norm running statistics) are not averaged: the average is
 * validated with the model's own running statistics, as torch's AveragedModel(use_buffers=False)
 * keeps them in sync since 2.1. They are a moving average already (momentum 0.1), and at the end
 * of a one-cycle fit, where the saved model comes from, the weights barely move, so statistics of
 * the raw weights fit their average; SWA, whose average spans distant weights, recomputes them.
 * @see torch.optim.swa_utils.AveragedModel
 */
export class ExponentialMovingAverage implements CheckpointedCallback {
  /** 5: its afterEpoch runs after SaveBest (0) and before RunCheckpoint (10); see above. */
  readonly order = 5
  /** Its name in checkpoints: the averaged tensors are saved as `ema.<parameter>`. */
  readonly stateName = 'ema'
  /** Updates so far (t of the last one). */
  updates = 0
  readonly #weights = new AveragedWeights()
  #inFit = false

  constructor(
    /** The decay d, in (0, 1) (e.g. 0.999): the share of the average kept at each update. */
    readonly decay: number,
    /** warmup false: the constant decay (as get_ema_multi_avg_fn). */
    readonly options: {
      /** Warm the decay up as min(decay, (1 + t) / (10 + t)) (default true). */
      warmup?: boolean
    } = {},
  ) {
    if (!(typeof decay === 'number' && decay > 0 && decay < 1))
      throw new ValidationError(
        `Expected a number in (0, 1) for the EMA decay but received ${String(decay)}`,
      )
  }

  /** The decay of the t-th update (t from 1). */
  decayAt(t: number): number {
    return this.options.warmup === false ? this.decay : Math.min(this.decay, (1 + t) / (10 + t))
  }

  /** Starts the average from the model's weights, unless an earlier fit or a resume gave one. */
  beforeFit(learn: Learner): void {
    this.#inFit = true
    // The average starts from the weights of the first fit (a resumed run has its saved one).
    if (!this.#weights.average) this.#weights.reset(learn.model)
  }

  /** Moves the average towards the weights the optimizer just stepped. */
  afterStep(learn: Learner): void {
    const average = this.#weights.averageOn(learn.model)
    if (!average) return
    this.updates += 1
    const d = this.decayAt(this.updates)
    noGrad(() => {
      for (const [name, p] of learn.model.namedParameters())
        (average.get(name) as Tensor).mul_(d).add_(p, 1 - d)
    })
  }

  /** Swaps the averaged weights into the model, so that validation sees them. */
  beforeValidate(learn: Learner): void {
    this.#weights.swapIn(learn.model)
  }

  /** Puts the raw weights back after a validation outside a fit. */
  afterValidate(learn: Learner): void {
    // A validation outside a fit (learn.validate()) has no afterEpoch to swap back in.
    if (!this.#inFit) this.#weights.restore(learn.model)
  }

  /** Puts the raw weights back, for training to go on from them. */
  afterEpoch(learn: Learner): void {
    this.#weights.restore(learn.model)
  }

  /** Puts the raw weights back, however the fit ended. */
  afterFit(learn: Learner): void {
    this.#weights.restore(learn.model)
    this.#inFit = false
  }

  /** The averaged weights by parameter name (empty before the first fit). */
  stateTensors(): Map<string, Tensor> {
    return this.#weights.tensors()
  }

  /** The number of updates so far, which the decay's warm-up goes on from. */
  stateCounts(): Record<string, number> {
    return { updates: this.updates }
  }

  loadState(tensors: Map<string, Tensor>, counts: Record<string, number>): void {
    this.dispose()
    this.updates = counts.updates ?? 0
    if (tensors.size > 0) this.#weights.reset(tensors)
  }

  /** Frees the averaged tensors, and the raw ones kept while the average is in the model. */
  dispose(): void {
    this.#weights.dispose()
  }
}
