/**
 * Learner: fastai's training loop in explicit TypeScript. It owns the model, the loaders, the
 * loss function, the metrics and the optimizer (one parameter group per layer group), and runs
 * fits that call its callbacks at fastai's sixteen events, in fastai's order:
 *
 *   beforeFit
 *     beforeEpoch
 *       beforeTrain
 *         beforeBatch, afterPred, afterLoss, beforeBackward, afterBackward, beforeStep,
 *         afterStep, afterBatch                                      (every training batch)
 *       afterTrain
 *       beforeValidate
 *         beforeBatch, afterPred, afterLoss, afterBatch              (every validation batch)
 *       afterValidate
 *     afterEpoch
 *   afterFit
 *
 * Callbacks read and change the learner's state (the batch, predictions, loss, epoch, ...);
 * throwing CancelBatch, CancelEpoch or CancelFit skips the rest of the batch, the epoch or the
 * fit. A cancelled fit records where it stopped, and can be resumed there exactly (weights,
 * optimizer state, schedule, data order, random state).
 * @module
 */
import { DataError } from '../errors.js'
import type { PatchLoader } from '../data/loader.js'
import type { PatchClassifier } from '../models/registry.js'
import { BatchNorm1d, BatchNorm2d } from '../nn/index.js'
import {
  AdamW,
  bceWithLogits,
  crossEntropy,
  noGrad,
  scope,
  SGD,
  type Optimizer,
  type Tensor,
} from '../torch/index.js'
import { accuracy, multiclassAccuracy, oneVsRestAuc, rocAuc } from '../metrics/metrics.js'
import type { EpochRecord, FitPosition } from '../run/run-folder.js'
import { Recorder } from './callbacks/recorder.js'
import { OneCycleSchedule } from './callbacks/one-cycle.js'
import type { OneCycleOptions } from './schedule.js'

/** fastai's defaults. */
export const LEARNER_DEFAULTS = { lr: 1e-3, wd: 0.01, opt: 'adamw' as const }

/** Events of every batch, in order: they run synchronously, the batch loop never yields. */
export const BATCH_EVENTS = [
  'beforeBatch',
  'afterPred',
  'afterLoss',
  'beforeBackward',
  'afterBackward',
  'beforeStep',
  'afterStep',
  'afterBatch',
] as const
type BatchEvent = (typeof BATCH_EVENTS)[number]

/** The events, in the order a fit calls them. */
export const EVENTS = [
  'beforeFit',
  'beforeEpoch',
  'beforeTrain',
  ...BATCH_EVENTS,
  'afterTrain',
  'beforeValidate',
  'afterValidate',
  'afterEpoch',
  'afterFit',
] as const
export type LearnerEvent = (typeof EVENTS)[number]

/**
 * A callback: a method for each event it handles, called with the learner. Callbacks run in
 * ascending `order` (default 0), then in the order they were given.
 */
export type Callback = { order?: number } & {
  [E in LearnerEvent]?: (learn: Learner) => E extends BatchEvent ? void : void | Promise<void>
}

/** Skips the rest of the current batch (no step when thrown before it); afterBatch still runs. */
export class CancelBatch extends Error {}
/** Skips the rest of the current epoch: no validation, no afterEpoch. */
export class CancelEpoch extends Error {}
/**
 * Stops the fit. `finished` (early stopping): the fit counts as complete. Otherwise (Ctrl-C) the
 * learner records where it stopped, to resume there.
 */
export class CancelFit extends Error {
  constructor(readonly finished = false) {
    super(finished ? 'fit finished early' : 'fit cancelled')
  }
}

/** What the Recorder reports for each training batch. */
export interface BatchInfo {
  stage: string
  epoch: number
  epochs: number
  batch: number
  batches: number
  loss: number
  imagesPerSec: number
}

/**
 * The validation pass's probabilities and labels, in the valid loader's order: one probability
 * per patch for a binary model (of the positive class), `classes` per patch otherwise.
 */
export interface ValidOutputs {
  probabilities: Float32Array
  labels: Float32Array
  classes: number
  lossSum: number
}

/** Loss of logits against float labels (class indices), summed or averaged. */
export type LossFunction = (logits: Tensor, labels: Tensor, reduction: 'mean' | 'sum') => Tensor

/** A validation metric over the whole valid set. */
export interface Metric {
  name: string
  compute(valid: ValidOutputs): number
}

/** How a Learner trains: optimizer, weight decay, loss, metrics and callbacks. */
export interface LearnerOptions {
  opt?: 'adamw' | 'sgd'
  wd?: number
  /** No weight decay on batch-norm parameters and biases (fastai's wd_bn_bias=False). */
  wdSkipNorm?: boolean
  /** Default: binary cross-entropy for one output, softmax cross-entropy for k (label smoothing ε). */
  lossFunc?: LossFunction
  /** ε of label smoothing for the default loss (0: none). */
  labelSmoothing?: number
  /**
   * freeze() leaves batch-norm layers of the body trainable (fastai's train_bn, the default);
   * false freezes the whole body, so nothing back-propagates through it.
   */
  trainBn?: boolean
  /** Default: accuracy, error rate and ROC AUC (macro one-vs-rest, and per class, for k classes). */
  metrics?: Metric[]
  callbacks?: Callback[]
}

/** Binary cross-entropy on one logit, or cross-entropy on k; ε smooths the targets. */
export function defaultLoss(outputs: number, labelSmoothing = 0): LossFunction {
  if (outputs === 1) {
    // Two classes: targets move from {0, 1} to {ε/2, 1 - ε/2}.
    return (logits, labels, reduction) =>
      bceWithLogits(
        logits.float().reshape(-1),
        labelSmoothing > 0 ? labels.mul(1 - labelSmoothing).add(labelSmoothing / 2) : labels,
        { reduction },
      )
  }
  return (logits, labels, reduction) =>
    crossEntropy(logits.float(), labels.long(), { reduction, labelSmoothing })
}

/** accuracy, errorRate, auc (macro one-vs-rest for k classes) and, for k classes, auc_<class>. */
export function defaultMetrics(classNames: string[]): Metric[] {
  const binary = classNames.length <= 2
  const share = (v: ValidOutputs) =>
    binary
      ? accuracy(v.probabilities, v.labels)
      : multiclassAccuracy(v.probabilities, v.labels, v.classes)
  const classAuc = (v: ValidOutputs, k: number) =>
    oneVsRestAuc(v.probabilities, v.labels, v.classes, k)
  const metrics: Metric[] = [
    { name: 'accuracy', compute: share },
    { name: 'errorRate', compute: (v) => 1 - share(v) },
    {
      name: 'auc',
      compute: (v) =>
        binary
          ? rocAuc(v.probabilities, v.labels)
          : classNames.reduce((sum, _, k) => sum + classAuc(v, k), 0) / classNames.length,
    },
  ]
  if (!binary)
    classNames.forEach((name, k) =>
      metrics.push({ name: `auc_${name}`, compute: (v) => classAuc(v, k) }),
    )
  return metrics
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
  readonly lossFunc: LossFunction
  readonly metrics: Metric[]
  /** Records losses and metrics; its history holds one record per finished epoch. */
  readonly recorder: Recorder
  /** The layer group (stem+early body, late body, head) of each optimizer parameter group. */
  readonly layerGroupOf: number[]

  // The state callbacks read (and may change), as fastai's attributes.
  /** Name of the current fit (e.g. 'frozen', 'unfrozen'). */
  stage = ''
  epoch = 0
  nEpochs = 0
  /** Index of the current batch in its epoch, and batches per training epoch. */
  iter = 0
  nIter = 0
  training = false
  xb: Tensor | null = null
  yb: Tensor | null = null
  pred: Tensor | null = null
  loss: Tensor | null = null
  /** The last training batch's loss as a number. */
  lossValue = 0
  /** Set when a fit was cancelled (not finished): where to resume. */
  stoppedAt: FitPosition | null = null
  /** Set when the last fit was ended early as finished (early stopping). */
  finishedEarly = false
  /** The last validation pass's outputs (callbacks may replace them in afterValidate). */
  valid: ValidOutputs | null = null
  /** Where the current fit started, when it resumes a stopped one. */
  resumedFrom: FitPosition | null = null
  #batchesDone = 0

  constructor(
    readonly model: PatchClassifier,
    readonly train: PatchLoader,
    readonly validLoader: PatchLoader,
    readonly options: LearnerOptions = {},
  ) {
    const wd = options.wd ?? LEARNER_DEFAULTS.wd
    const groups = parameterGroups(model, options.wdSkipNorm ?? false)
    this.layerGroupOf = groups.map((g) => g.layerGroup)
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
    const outputs = model.spec.numClasses
    this.lossFunc = options.lossFunc ?? defaultLoss(outputs, options.labelSmoothing ?? 0)
    this.metrics = options.metrics ?? defaultMetrics(train?.store.meta.classes ?? ['0', '1'])
    this.recorder = new Recorder()
    this.callbacks = [...(options.callbacks ?? []), this.recorder]
  }

  /** Epoch records so far (the Recorder's). */
  get history(): EpochRecord[] {
    return this.recorder.history
  }

  /**
   * Trains only the head, and the body's batch-norm layers unless trainBn is false: the
   * pretrained body stays. Fully frozen, autograd records nothing of the body (no parameter of
   * it needs a gradient), so a step costs little more than a forward pass.
   */
  freeze(): void {
    const trainBn = this.options.trainBn ?? true
    this.#setTrainable((group, isNorm) => group === 2 || (trainBn && isNorm))
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

  /** Learning rate per layer group and momentum (Adam's beta1, or SGD's momentum). */
  setHyper(lrs: number[], momentum: number): void {
    const key = (this.options.opt ?? LEARNER_DEFAULTS.opt) === 'sgd' ? 'momentum' : 'betas'
    this.optimizer.paramGroups.forEach((group, i) => {
      group.lr = lrs[this.layerGroupOf[i] as number] as number
      const g = group as unknown as Record<string, unknown>
      if (key === 'betas') g.betas = [momentum, (g.betas as number[])[1]]
      else g.momentum = momentum
    })
  }

  #sorted(): Callback[] {
    return this.callbacks
      .map((cb, i) => ({ cb, i }))
      .sort((a, b) => (a.cb.order ?? 0) - (b.cb.order ?? 0) || a.i - b.i)
      .map(({ cb }) => cb)
  }

  /** Calls a batch event on every callback, synchronously. */
  #batchEvent(event: BatchEvent): void {
    for (const cb of this.#sorted()) cb[event]?.(this)
  }

  /** Calls an event on every callback, awaiting each. */
  async #event(event: Exclude<LearnerEvent, BatchEvent>): Promise<void> {
    for (const cb of this.#sorted()) await cb[event]?.(this)
  }

  /** One batch through the model: forward, loss, and in training backward and step. */
  #oneBatch(x: Tensor, y: Tensor, where: string): void {
    scope(() => {
      this.xb = x
      this.yb = y
      try {
        this.#batchEvent('beforeBatch')
        if (this.training) this.optimizer.zeroGrad()
        this.pred = this.model.forward(this.xb)
        this.#batchEvent('afterPred')
        this.loss = this.lossFunc(this.pred, this.yb, this.training ? 'mean' : 'sum')
        this.#batchEvent('afterLoss')
        if (this.training) {
          this.lossValue = this.loss.item()
          if (!Number.isFinite(this.lossValue))
            throw new DataError(
              `The loss became ${this.lossValue} at ${where}. Lower the learning rate (see "pcam lr-find").`,
            )
          this.#batchEvent('beforeBackward')
          this.loss.backward()
          this.#batchEvent('afterBackward')
          this.#batchEvent('beforeStep')
          this.optimizer.step()
          this.#batchEvent('afterStep')
        }
      } catch (error) {
        if (!(error instanceof CancelBatch)) throw error
      }
      // From here the batch counts as done: a fit cancelled in afterBatch resumes after it.
      if (this.training) this.#batchesDone = this.iter + 1
      this.#batchEvent('afterBatch')
      this.pred = null
      this.loss = null
    })
  }

  /**
   * One pass over the validation loader with the validation events: the outputs are left in
   * `valid`, the loss and metrics in the Recorder (validLoss, validMetrics).
   */
  async validate(): Promise<ValidOutputs> {
    this.model.eval()
    this.training = false
    await this.#event('beforeValidate')
    noGrad(() => {
      let batch = 0
      for (const { x, y, indices } of this.validLoader.epoch(0)) {
        this.iter = batch++
        try {
          this.#oneBatch(x, y, 'validation')
        } finally {
          for (const t of [x, y, indices]) t.dispose()
        }
      }
    })
    this.valid = this.recorder.validOutputs()
    await this.#event('afterValidate')
    return this.valid
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
    const schedule = new OneCycleSchedule(lr, options)
    this.callbacks.push(schedule)
    try {
      return await this.fit(epochs, options.stage ?? 'fit', options.from)
    } finally {
      this.callbacks.splice(this.callbacks.indexOf(schedule), 1)
    }
  }

  /**
   * Trains `epochs` epochs at the optimizer's current hyper-parameters (callbacks may change
   * them). Returns false when cancelled (see stoppedAt), true when it ran to its end or was
   * finished early.
   */
  async fit(epochs: number, stage = 'fit', from?: FitPosition): Promise<boolean> {
    const start = from && from.stage === stage ? from : { stage, epoch: 0, batch: 0 }
    this.stage = stage
    this.nEpochs = epochs
    this.nIter = this.train.length
    this.stoppedAt = null
    this.finishedEarly = false
    this.resumedFrom = start.epoch > 0 || start.batch > 0 ? start : null
    try {
      await this.#event('beforeFit')
      for (let epoch = start.epoch; epoch < epochs; epoch++) {
        this.epoch = epoch
        try {
          await this.#oneEpoch(epoch === start.epoch ? start : undefined)
        } catch (error) {
          if (!(error instanceof CancelEpoch)) throw error
        }
      }
      return true
    } catch (error) {
      if (!(error instanceof CancelFit)) throw error
      if (error.finished) {
        this.finishedEarly = true
        return true
      }
      this.stoppedAt = {
        stage,
        epoch: this.epoch,
        batch: this.#batchesDone,
        partial: this.recorder.partial(),
      }
      return false
    } finally {
      await this.#event('afterFit')
    }
  }

  async #oneEpoch(resume: FitPosition | undefined): Promise<void> {
    const first = resume?.batch ?? 0
    this.#batchesDone = first
    await this.#event('beforeEpoch')
    this.model.train()
    this.training = true
    await this.#event('beforeTrain')
    let batch = first
    for (const { x, y, indices } of this.train.epoch(this.epoch, first)) {
      this.iter = batch++
      try {
        this.#oneBatch(x, y, `${this.stage} epoch ${this.epoch + 1}, batch ${batch}`)
      } finally {
        for (const t of [x, y, indices]) t.dispose()
      }
    }
    await this.#event('afterTrain')
    await this.validate()
    await this.#event('afterEpoch')
  }

  dispose(): void {
    this.optimizer.dispose()
  }
}
