/**
 * Learner: fastai's training loop in explicit TypeScript. It owns the model, the loaders and the
 * optimizer (one parameter group per layer group), runs fit / fitOneCycle with callbacks,
 * validates with loss, accuracy and ROC AUC, freezes and unfreezes the body, and can stop after
 * any batch and resume there exactly (weights, optimizer state, schedule, data order, RNG).
 * @module
 */
import { DataError } from '../errors.js'
import type { PatchLoader } from '../data/loader.js'
import type { PatchClassifier } from '../models/registry.js'
import { BatchNorm1d, BatchNorm2d } from '../nn/index.js'
import {
  AdamW,
  autocast,
  bceWithLogits,
  clipGradNorm,
  noGrad,
  scope,
  SGD,
  type Optimizer,
  type Tensor,
} from '../torch/index.js'
import { accuracy, rocAuc } from '../eval/metrics.js'
import type { DataParallel } from './data-parallel.js'
import { oneCycleAt, spreadLr, type OneCycleOptions } from './schedule.js'

/** fastai's defaults. */
export const LEARNER_DEFAULTS = { lr: 1e-3, wd: 0.01, opt: 'adamw' as const }

export interface EpochRecord {
  stage: string
  epoch: number
  trainLoss: number
  validLoss: number
  accuracy: number
  errorRate: number
  auc: number
  seconds: number
  imagesPerSec: number
}

export interface BatchInfo {
  stage: string
  epoch: number
  epochs: number
  batch: number
  batches: number
  loss: number
  imagesPerSec: number
}

/** The validation pass's probabilities and labels, in the valid loader's order. */
export interface ValidOutputs {
  probabilities: Float32Array
  labels: Float32Array
}

/** Hooks into the loop; each gets the learner. Throwing CancelFit stops training cleanly. */
export interface Callback {
  afterBatch?(learn: Learner, info: BatchInfo): void
  afterEpoch?(learn: Learner, record: EpochRecord, valid: ValidOutputs): void | Promise<void>
}

/** Thrown by a callback (e.g. on Ctrl-C) to stop after the current batch; fit() returns normally. */
export class CancelFit extends Error {}

/** Thrown by a callback after an epoch (early stopping) to end the fit as finished. */
export class StopTraining extends Error {}

/** Where a stopped fit was: enough to resume it exactly. */
export interface FitPosition {
  stage: string
  epoch: number
  /** Batches of `epoch` already done. */
  batch: number
  /** Mid-epoch: the done batches' summed loss, images and seconds, so the epoch's record comes out as if never stopped. */
  partial?: { lossSum: number; seen: number; seconds: number }
}

export interface LearnerOptions {
  opt?: 'adamw' | 'sgd'
  wd?: number
  /** Use bfloat16 autocast for forward passes (CPUs with AVX512-BF16; CUDA). */
  mixedPrecision?: boolean
  clipGrad?: number
  /** No weight decay on batch-norm parameters and biases (fastai's wd_bn_bias=False). */
  wdSkipNorm?: boolean
  /** ε of label smoothing (0: none). */
  labelSmoothing?: number
  callbacks?: Callback[]
  /** Train as one rank of a data-parallel group (loaders sharded to match). */
  dataParallel?: DataParallel
}

/** Parameters of batch-norm layers and every bias: the ones wdSkipNorm exempts from decay. */
function normAndBiasParameters(model: PatchClassifier): Set<unknown> {
  const exempt = new Set<unknown>()
  for (const m of model.modules()) {
    if (m instanceof BatchNorm2d || m instanceof BatchNorm1d)
      for (const p of m.parameters(false)) exempt.add(p)
  }
  for (const [name, p] of model.namedParameters()) if (name.endsWith('.bias')) exempt.add(p)
  return exempt
}

/**
 * One optimizer group per layer group, or two (decayed, not decayed) when batch norm and biases
 * skip weight decay; empty groups are left out.
 */
function parameterGroups(model: PatchClassifier, wdSkipNorm: boolean) {
  const exempt = wdSkipNorm ? normAndBiasParameters(model) : new Set<unknown>()
  return model.layerGroups().flatMap((params, layerGroup) => {
    const decayed = { params: params.filter((p) => !exempt.has(p)), layerGroup }
    const undecayed = { params: params.filter((p) => exempt.has(p)), layerGroup, weightDecay: 0 }
    return [decayed, undecayed].filter((g) => g.params.length > 0)
  })
}

export class Learner {
  readonly optimizer: Optimizer<{ lr: number }, unknown>
  readonly callbacks: Callback[]
  readonly history: EpochRecord[] = []
  /** Set when a fit was cancelled: where to resume. */
  stoppedAt: FitPosition | null = null
  #momentumKey: 'betas' | 'momentum'
  /** The layer group (stem+early body, late body, head) of each optimizer parameter group. */
  readonly #layerGroupOf: number[]

  constructor(
    readonly model: PatchClassifier,
    readonly train: PatchLoader,
    readonly valid: PatchLoader,
    readonly options: LearnerOptions = {},
  ) {
    const wd = options.wd ?? LEARNER_DEFAULTS.wd
    const groups = parameterGroups(model, options.wdSkipNorm ?? false)
    this.#layerGroupOf = groups.map((g) => g.layerGroup)
    this.optimizer =
      (options.opt ?? LEARNER_DEFAULTS.opt) === 'sgd'
        ? (new SGD(groups, {
            lr: LEARNER_DEFAULTS.lr,
            momentum: 0.9,
            weightDecay: wd,
          }) as Optimizer<{ lr: number }, unknown>)
        : (new AdamW(groups, { lr: LEARNER_DEFAULTS.lr, weightDecay: wd }) as Optimizer<
            { lr: number },
            unknown
          >)
    this.#momentumKey = options.opt === 'sgd' ? 'momentum' : 'betas'
    this.callbacks = options.callbacks ?? []
    options.dataParallel?.broadcastModel(model)
  }

  /** Trains only the head (and batch-norm layers, as fastai does): the pretrained body stays. */
  freeze(): void {
    this.#setTrainable((group, isNorm) => group === 2 || isNorm)
  }
  unfreeze(): void {
    this.#setTrainable(() => true)
  }
  #setTrainable(trainable: (group: number, isNorm: boolean) => boolean): void {
    const norms = new Set<unknown>()
    for (const m of this.model.modules()) {
      if (m instanceof BatchNorm2d || m instanceof BatchNorm1d)
        for (const p of m.parameters(false)) norms.add(p)
    }
    this.model.layerGroups().forEach((params, g) => {
      for (const p of params) p.requiresGrad_(trainable(g, norms.has(p)))
    })
  }

  #setHyper(lrs: number[], mom: number): void {
    this.optimizer.paramGroups.forEach((group, i) => {
      group.lr = lrs[this.#layerGroupOf[i] as number] as number
      const g = group as unknown as Record<string, unknown>
      if (this.#momentumKey === 'betas') g.betas = [mom, (g.betas as number[])[1]]
      else g.momentum = mom
    })
  }

  /** The model's logits, under bfloat16 autocast when mixed precision is on. */
  #forward(x: Tensor): Tensor {
    return autocast(() => this.model.forward(x), { enabled: this.options.mixedPrecision ?? false })
  }

  /** One optimisation step on a batch; returns the loss. */
  #step(x: Tensor, y: Tensor, position: string): number {
    return scope(() => {
      this.optimizer.zeroGrad()
      const logits = this.#forward(x)
      // Label smoothing for two classes: targets move from {0, 1} to {ε/2, 1 - ε/2}.
      const smoothing = this.options.labelSmoothing ?? 0
      const target = smoothing > 0 ? y.mul(1 - smoothing).add(smoothing / 2) : y
      const loss = bceWithLogits(logits.float().reshape(-1), target)
      const value = loss.item()
      if (!Number.isFinite(value)) {
        throw new DataError(
          `The loss became ${value} at ${position}. Lower the learning rate (see "pcam lr-find").`,
        )
      }
      loss.backward()
      this.options.dataParallel?.averageGradients([...this.model.parameters()])
      if (this.options.clipGrad) clipGradNorm([...this.model.parameters()], this.options.clipGrad)
      this.optimizer.step()
      return value
    })
  }

  /** Loss, accuracy and ROC AUC on the validation loader. */
  validate(): {
    loss: number
    accuracy: number
    auc: number
    probabilities: Float32Array
    labels: Float32Array
  } {
    this.model.eval()
    const probs: number[] = []
    const labels: number[] = []
    let lossSum = 0
    noGrad(() => {
      for (const batch of this.valid.epoch(0)) {
        scope(() => {
          const logits = this.#forward(batch.x).float().reshape(-1)
          lossSum += bceWithLogits(logits, batch.y, { reduction: 'sum' }).item()
          probs.push(...logits.sigmoid().toArray())
          labels.push(...batch.y.toArray())
          // The loader's tensors were made outside this scope: they are the caller's to free.
          for (const t of [batch.x, batch.y, batch.indices]) t.dispose()
        })
      }
    })
    // Data-parallel: each rank validated its stretch; the metrics are over the whole valid set.
    const dp = this.options.dataParallel
    const probabilities = dp ? dp.gather(Float32Array.from(probs)) : Float32Array.from(probs)
    const truth = dp ? dp.gather(Float32Array.from(labels)) : Float32Array.from(labels)
    if (dp) lossSum = (dp.sum([lossSum]) as [number])[0]
    return {
      loss: lossSum / probabilities.length,
      accuracy: accuracy(probabilities, truth),
      auc: rocAuc(probabilities, truth),
      probabilities,
      labels: truth,
    }
  }

  /**
   * Trains `epochs` epochs with the one-cycle policy. `lr` is one peak rate, or [low, high] spread
   * over the layer groups (discriminative rates). `from` resumes a stopped fit.
   * @example await learn.fitOneCycle(3, [1e-5, 1e-3], { stage: 'unfrozen' })
   */
  async fitOneCycle(
    epochs: number,
    lr: number | [number, number],
    options: OneCycleOptions & { stage?: string; from?: FitPosition } = {},
  ): Promise<boolean> {
    const peaks = spreadLr(lr, this.model.layerGroups().length)
    const total = epochs * this.train.length
    return this.#fit(epochs, options.stage ?? 'fit', options.from, (step) => {
      const { lrScale, mom } = oneCycleAt(step / total, options)
      this.#setHyper(
        peaks.map((p) => p * lrScale),
        mom,
      )
    })
  }

  /** Trains at the optimizer's current hyper-parameters (callbacks may change them). */
  async fitConstant(epochs: number, stage = 'constant'): Promise<boolean> {
    return this.#fit(epochs, stage, undefined, () => undefined)
  }

  async #fit(
    epochs: number,
    stage: string,
    from: FitPosition | undefined,
    schedule: (step: number) => void,
  ): Promise<boolean> {
    const batches = this.train.length
    const start = from && from.stage === stage ? from : { stage, epoch: 0, batch: 0 }
    this.stoppedAt = null
    for (let epoch = start.epoch; epoch < epochs; epoch++) {
      this.model.train()
      const resumed = epoch === start.epoch ? start.partial : undefined
      const began = performance.now() - (resumed?.seconds ?? 0) * 1000
      let lossSum = resumed?.lossSum ?? 0
      let seen = resumed?.seen ?? 0
      let batch = epoch === start.epoch ? start.batch : 0
      try {
        for (const { x, y, indices } of this.train.epoch(epoch, batch)) {
          schedule(epoch * batches + batch)
          const size = x.size(0)
          const loss = this.#step(x, y, `${stage} epoch ${epoch + 1}, batch ${batch + 1}`)
          x.dispose()
          y.dispose()
          indices.dispose()
          lossSum += loss * size
          seen += size
          batch++
          const info = {
            stage,
            epoch,
            epochs,
            batch,
            batches,
            loss,
            imagesPerSec: seen / ((performance.now() - began) / 1000),
          }
          for (const cb of this.callbacks) cb.afterBatch?.(this, info)
        }
      } catch (error) {
        if (!(error instanceof CancelFit)) throw error
        const seconds = (performance.now() - began) / 1000
        this.stoppedAt = { stage, epoch, batch, partial: { lossSum, seen, seconds } }
        return false
      }
      const seconds = (performance.now() - began) / 1000
      // Ranks normalised with their own batch statistics; validation and checkpoints need one set.
      this.options.dataParallel?.syncBuffers(this.model)
      const valid = this.validate()
      const record: EpochRecord = {
        stage,
        epoch,
        trainLoss: lossSum / seen,
        validLoss: valid.loss,
        accuracy: valid.accuracy,
        errorRate: 1 - valid.accuracy,
        auc: valid.auc,
        seconds,
        imagesPerSec: seen / seconds,
      }
      this.history.push(record)
      try {
        for (const cb of this.callbacks) await cb.afterEpoch?.(this, record, valid)
      } catch (error) {
        if (error instanceof StopTraining) return true
        throw error
      }
    }
    return true
  }

  dispose(): void {
    this.optimizer.dispose()
  }
}
