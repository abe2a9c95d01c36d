/**
 * Learner: fastai's training loop in explicit TypeScript. It owns a model (any nn.Module; one
 * with layerGroups() gets discriminative rates and freeze()), the training and validation batches
 * (a PatchLoader, any EpochLoader, or an array of batches), the loss function, the metrics and
 * the optimizer (AdamW, SGD or the caller's own), and runs fits that call its callbacks at
 * fastai's events with fastai's cancel semantics (see events.ts).
 *
 * Callbacks read and change the learner's state (the batch, predictions, loss, epoch, ...). A
 * fit cancelled with CancelFit records where it stopped, and can be resumed there exactly
 * (weights, optimizer state, schedule, data order, random state).
 * @module
 */
import { ValidationError } from '../errors.js'
import { BatchNorm1d, BatchNorm2d, type Module } from '../nn/index.js'
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
import {
  epochLoaderOf,
  releaseBatch,
  type BatchIterable,
  type EpochLoader,
  type LearnerBatch,
} from './batches.js'
import {
  CancelBackward,
  CancelBatch,
  CancelEpoch,
  CancelFit,
  CancelStep,
  CancelTrain,
  CancelValidate,
  type BatchEvent,
  type Callback,
  type FitEvent,
} from './events.js'
import { NonFiniteLossCheck } from './callbacks/non-finite-loss.js'
import { OneCycleSchedule } from './callbacks/one-cycle.js'
import { Recorder } from './callbacks/recorder.js'
import { TrainEval } from './callbacks/train-eval.js'
import type { OneCycleOptions } from './schedule.js'

export * from './events.js'
export type { BatchIterable, EpochLoader, LearnerBatch } from './batches.js'

/** fastai's defaults. */
export const LEARNER_DEFAULTS = {
  /** Learning rate: the optimizer's initial one, and a training recipe's peak rate. */
  lr: 1e-3,
  /** Weight decay of every parameter group not exempted from it. */
  wd: 0.01,
  /** The optimizer: AdamW, Adam with decoupled weight decay as in fastai. */
  opt: 'adamw' as const,
}

/**
 * What a Learner trains: any module. One with `layerGroups()` (pcam's PatchClassifier: stem and
 * early body, late body, head) gets one optimizer group per layer group, discriminative rates
 * and freeze(); any other trains as one group.
 */
export type LearnerModel = Module & {
  /** The parameters by layer group, the body's first and the head's last. */
  layerGroups?(): Tensor[][]
}

/** What the Recorder reports for each training batch. */
export interface BatchInfo {
  /** Name of the fit (e.g. 'frozen'). */
  stage: string
  /** Index of the epoch in the fit, from 0. */
  epoch: number
  /** Epochs in the fit. */
  epochs: number
  /** Number of the batch just done in its epoch, from 1. */
  batch: number
  /** Batches per training epoch. */
  batches: number
  /** That batch's training loss. */
  loss: number
  /** Training speed over the epoch so far, in inputs per second. */
  imagesPerSec: number
}

/**
 * The validation pass's probabilities and labels, in the valid loader's order: one probability
 * per patch for a binary model (of the positive class), `classes` per patch otherwise.
 */
export interface ValidOutputs {
  /** The sigmoid of each input's logit, or each input's `classes` softmax probabilities in turn. */
  probabilities: Float32Array
  /** The label (class index) of each input. */
  labels: Float32Array
  /** Outputs per input: 1 for a binary model, else the number of classes. */
  classes: number
  /** The loss summed over the inputs (divided by their number, the validation loss). */
  lossSum: number
}

/** Loss of logits against float labels (class indices), summed or averaged. */
export type LossFunction = (logits: Tensor, labels: Tensor, reduction: 'mean' | 'sum') => Tensor

/** A validation metric over the whole valid set. */
export interface Metric {
  /** Its key in the Recorder's validMetrics and in the epoch records (e.g. 'auc'). */
  name: string
  /** Its value on one validation pass's outputs. */
  compute(valid: ValidOutputs): number
}

/** One optimizer parameter group as the Learner builds it (weightDecay 0 where exempt). */
export interface ParameterGroup {
  /** The parameters the group optimizes, all of one layer group. */
  params: Tensor[]
  /** 0 for the batch-norm parameters and biases wdSkipNorm exempts; absent: the default decay. */
  weightDecay?: number
}

/**
 * Makes the optimizer (fastai's opt_func): given the parameter groups and the defaults, returns
 * any pcam Optimizer (a subclass of `Optimizer` from `pcam/torch`). The Learner sets each group's
 * `lr` during fits, and its `betas[0]` or `momentum` where the group has one.
 */
export type OptimizerFunction = (
  groups: ParameterGroup[],
  defaults: {
    /** The initial learning rate of every group (the Learner sets the rates during fits). */
    lr: number
    /** Weight decay of the groups that do not set their own (LearnerOptions.wd). */
    weightDecay: number
  },
) => Optimizer<
  {
    /** Each group's learning rate, which the Learner sets during fits. */
    lr: number
  },
  unknown
>

/** How a Learner trains: optimizer, weight decay, loss, metrics and callbacks. */
export interface LearnerOptions {
  /** 'adamw' (default), 'sgd' (momentum 0.9), or a function that makes the optimizer. */
  opt?: 'adamw' | 'sgd' | OptimizerFunction
  /** Weight decay (default 0.01), as the optimizer applies it (decoupled in AdamW). */
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
  /** Class names for the default metrics (default: the training loader's `classes`). */
  classNames?: readonly string[]
  /** Callbacks added after the default ones (TrainEval, NonFiniteLossCheck, Recorder). */
  callbacks?: Callback[]
}

/**
 * Binary cross-entropy on one logit, cross-entropy on k (read from the logits); ε smooths the
 * targets.
 */
export function defaultLoss(labelSmoothing = 0): LossFunction {
  return (logits, labels, reduction) => {
    if (logits.ndim === 1 || logits.size(1) === 1)
      // Two classes: targets move from {0, 1} to {ε/2, 1 - ε/2}.
      return bceWithLogits(
        logits.float().reshape(-1),
        labelSmoothing > 0 ? labels.mul(1 - labelSmoothing).add(labelSmoothing / 2) : labels,
        { reduction },
      )
    return crossEntropy(logits.float(), labels.long(), { reduction, labelSmoothing })
  }
}

/**
 * accuracy, errorRate, auc (macro one-vs-rest for k classes) and, for k named classes,
 * auc_<class>. Without names, binary or not is read from the outputs.
 */
export function defaultMetrics(classNames?: readonly string[]): Metric[] {
  const binary = (v: ValidOutputs) => v.classes === 1
  const share = (v: ValidOutputs) =>
    binary(v)
      ? accuracy(v.probabilities, v.labels)
      : multiclassAccuracy(v.probabilities, v.labels, v.classes)
  const classAuc = (v: ValidOutputs, k: number) =>
    oneVsRestAuc(v.probabilities, v.labels, v.classes, k)
  const metrics: Metric[] = [
    { name: 'accuracy', compute: share },
    { name: 'errorRate', compute: (v) => 1 - share(v) },
    {
      name: 'auc',
      compute: (v) => {
        if (binary(v)) return rocAuc(v.probabilities, v.labels)
        let sum = 0
        for (let k = 0; k < v.classes; k++) sum += classAuc(v, k)
        return sum / v.classes
      },
    },
  ]
  if (classNames && classNames.length > 2)
    classNames.forEach((name, k) =>
      metrics.push({ name: `auc_${name}`, compute: (v) => classAuc(v, k) }),
    )
  return metrics
}

function isNorm(m: Module): boolean {
  return m instanceof BatchNorm2d || m instanceof BatchNorm1d
}

/** Parameters of batch-norm layers and every bias: the ones wdSkipNorm exempts from decay. */
function normAndBiasParameters(model: Module): Set<unknown> {
  const exempt = new Set<unknown>()
  for (const m of model.modules()) if (isNorm(m)) for (const p of m.parameters(false)) exempt.add(p)
  for (const [name, p] of model.namedParameters()) if (name.endsWith('.bias')) exempt.add(p)
  return exempt
}

/** The model's layer groups, or all its parameters as one. */
export function layerGroupsOf(model: LearnerModel): Tensor[][] {
  return model.layerGroups ? model.layerGroups() : [[...model.parameters()]]
}

/**
 * One optimizer group per layer group, or two (decayed, not decayed) when batch norm and biases
 * skip weight decay; empty groups are left out.
 */
function parameterGroups(model: LearnerModel, wdSkipNorm: boolean) {
  const exempt = wdSkipNorm ? normAndBiasParameters(model) : new Set<unknown>()
  return layerGroupsOf(model).flatMap((params, layerGroup) => {
    const decayed = { params: params.filter((p) => !exempt.has(p)), layerGroup }
    const undecayed = { params: params.filter((p) => exempt.has(p)), layerGroup, weightDecay: 0 }
    return [decayed, undecayed].filter((g) => g.params.length > 0)
  })
}

/** The optimizer an `opt` option names or makes. */
function makeOptimizer(
  opt: NonNullable<LearnerOptions['opt']>,
  groups: ParameterGroup[],
  defaults: { lr: number; weightDecay: number },
): Optimizer<{ lr: number }, unknown> {
  if (typeof opt === 'function') return opt(groups, defaults)
  if (opt === 'sgd')
    return new SGD(groups, { ...defaults, momentum: 0.9 }) as Optimizer<{ lr: number }, unknown>
  if (opt === 'adamw') return new AdamW(groups, defaults) as Optimizer<{ lr: number }, unknown>
  throw new ValidationError(
    `Unknown optimizer ${JSON.stringify(opt)}: give 'adamw', 'sgd' or a function`,
  )
}

type Bracket = 'Fit' | 'Epoch' | 'Train' | 'Validate'
type Cancel = abstract new (...args: never[]) => Error

/**
 * Trains a model with a loss, metrics, an optimizer and callbacks, in fits of epochs that each
 * train on the training batches and then validate (fastai's Learner).
 */
export class Learner<M extends LearnerModel = LearnerModel, L extends EpochLoader = EpochLoader> {
  /** The optimizer over the model's parameter groups; setHyper sets their rates and momentum. */
  readonly optimizer: Optimizer<
    {
      /** The group's learning rate, which the Learner sets during fits. */
      lr: number
    },
    unknown
  >
  /** The loss: options.lossFunc, or defaultLoss with the label smoothing asked for. */
  readonly lossFunc: LossFunction
  /** The metrics computed after each validation: options.metrics, or defaultMetrics. */
  readonly metrics: Metric[]
  /** Records losses and metrics; its history holds one record per validated epoch. */
  readonly recorder: Recorder
  /** The layer group of each optimizer parameter group. */
  readonly layerGroupOf: number[]
  /** The training batches. */
  readonly train: L
  /** The validation batches, asked for as epoch 0 each time (so always in the same order). */
  readonly validLoader: L
  #callbacks: Callback[] = []
  /** The callbacks in calling order, sorted when the list changes. */
  #ordered: Callback[] = []

  // The state callbacks read (and may change), as fastai's attributes.
  /** Name of the current fit (e.g. 'frozen', 'unfrozen'). */
  stage = ''
  /** Index of the current epoch in the fit, from 0. */
  epoch = 0
  /** Epochs in the current fit. */
  nEpochs = 0
  /** Index of the current batch in its epoch. */
  iter = 0
  /** Batches per training epoch. */
  nIter = 0
  /** Set by TrainEval: true in the training batches, false in validation. */
  training = false
  /** The current batch's inputs; beforeBatch may replace them before the forward pass. */
  xb: Tensor | null = null
  /** The current batch's labels; beforeBatch may replace them before the loss. */
  yb: Tensor | null = null
  /** The model's outputs for the current batch, from afterPred to the batch's end (else null). */
  pred: Tensor | null = null
  /**
   * The current batch's loss, from afterLoss to the batch's end (else null): the mean in
   * training, the sum in validation.
   */
  loss: Tensor | null = null
  /** The current training batch's loss as a number (read once afterLoss has run). */
  lossValue = 0
  /** Set when a fit was cancelled (not finished): where to resume. */
  stoppedAt: FitPosition | null = null
  /** Set when the last fit was ended early as finished (early stopping). */
  finishedEarly = false
  /**
   * The last validation pass's outputs (callbacks may replace them in afterValidate); null in
   * afterValidate when the pass was cancelled.
   */
  valid: ValidOutputs | null = null
  /** Where the current fit started, when it resumes a stopped one. */
  resumedFrom: FitPosition | null = null
  #batchesDone = 0
  /** Whether the current epoch has reached its afterEpoch (a stop then resumes at the next). */
  #epochEnded = false

  /**
   * @param train  a PatchLoader or other EpochLoader, or an array (any iterable with a length) of
   *   `{ x, y }` batches; batches of an iterable stay the caller's, an EpochLoader's fresh ones
   *   are disposed after use.
   * @example
   * const learn = new Learner(model, trainBatches, validBatches, {
   *   opt: (groups, defaults) => new SGD(groups, { ...defaults, momentum: 0.9 }),
   *   callbacks: [myCallback],
   * })
   * await learn.fitOneCycle(3, 1e-3)
   */
  constructor(
    /** The network it trains. */
    readonly model: M,
    train: L | BatchIterable,
    valid: L | BatchIterable,
    /** How it trains: optimizer, weight decay, loss, metrics and callbacks. */
    readonly options: LearnerOptions = {},
  ) {
    this.train = epochLoaderOf(train, 'training') as L
    this.validLoader = epochLoaderOf(valid, 'validation') as L
    const groups = parameterGroups(model, options.wdSkipNorm ?? false)
    this.layerGroupOf = groups.map((g) => g.layerGroup)
    this.optimizer = makeOptimizer(
      options.opt ?? LEARNER_DEFAULTS.opt,
      groups.map(({ layerGroup: _, ...g }) => g),
      { lr: LEARNER_DEFAULTS.lr, weightDecay: options.wd ?? LEARNER_DEFAULTS.wd },
    )
    this.lossFunc = options.lossFunc ?? defaultLoss(options.labelSmoothing ?? 0)
    this.metrics = options.metrics ?? defaultMetrics(options.classNames ?? this.train.classes)
    this.recorder = new Recorder()
    // fastai's default callbacks, then the caller's.
    this.addCallback(new TrainEval(), new NonFiniteLossCheck(), this.recorder)
    this.addCallback(...(options.callbacks ?? []))
  }

  /** The callbacks, in the order they were added. */
  get callbacks(): readonly Callback[] {
    return this.#callbacks
  }

  /** Adds callbacks (each once); each runs by its `order`, then after those added before it. */
  addCallback(...callbacks: Callback[]): this {
    for (const cb of callbacks) if (!this.#callbacks.includes(cb)) this.#callbacks.push(cb)
    this.#sort()
    return this
  }

  /** Removes callbacks; the Recorder stays, as validation outputs and history come from it. */
  removeCallback(...callbacks: Callback[]): this {
    if (callbacks.includes(this.recorder))
      throw new ValidationError('The Recorder cannot be removed: the learner reads its outputs')
    this.#callbacks = this.#callbacks.filter((cb) => !callbacks.includes(cb))
    this.#sort()
    return this
  }

  /** Runs `body` with callbacks added, removing them afterwards (fastai's added_cbs). */
  async withCallbacks<T>(callbacks: Callback[], body: () => Promise<T>): Promise<T> {
    const added = callbacks.filter((cb) => !this.#callbacks.includes(cb))
    this.addCallback(...added)
    try {
      return await body()
    } finally {
      this.removeCallback(...added)
    }
  }

  #sort(): void {
    // Array.prototype.sort is stable: equal orders keep the order of adding.
    this.#ordered = [...this.#callbacks].sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
  }

  /** Epoch records so far (the Recorder's). */
  get history(): EpochRecord[] {
    return this.recorder.history
  }

  /** The model's layer groups (one group of every parameter for a model without them). */
  layerGroups(): Tensor[][] {
    return layerGroupsOf(this.model)
  }

  /**
   * Trains only the last layer group (the head), and the body's batch-norm layers unless trainBn
   * is false: the pretrained body stays. Fully frozen, autograd records nothing of the body (no
   * parameter of it needs a gradient), so a step costs little more than a forward pass.
   */
  freeze(): void {
    const last = this.layerGroups().length - 1
    if (last < 1)
      throw new ValidationError(
        'freeze() needs a model with layer groups: give it a layerGroups() method that returns ' +
          'the parameters of the body and the head as separate lists',
      )
    const trainBn = this.options.trainBn ?? true
    this.#setTrainable((group, isNormParam) => group === last || (trainBn && isNormParam))
  }
  /** Makes every parameter trainable again (undoes freeze()). */
  unfreeze(): void {
    this.#setTrainable(() => true)
  }
  #setTrainable(trainable: (group: number, isNormParam: boolean) => boolean): void {
    const norms = new Set<unknown>()
    for (const m of this.model.modules())
      if (isNorm(m)) for (const p of m.parameters(false)) norms.add(p)
    this.layerGroups().forEach((params, g) => {
      for (const p of params) p.requiresGrad_(trainable(g, norms.has(p)))
    })
  }

  /**
   * Learning rate per layer group, and momentum: Adam's beta1 or SGD's momentum, for optimizers
   * whose groups have either.
   */
  setHyper(lrs: number[], momentum: number): void {
    this.optimizer.paramGroups.forEach((group, i) => {
      group.lr = lrs[this.layerGroupOf[i] as number] as number
      const g = group as unknown as Record<string, unknown>
      if (Array.isArray(g.betas)) g.betas = [momentum, g.betas[1]]
      else if (typeof g.momentum === 'number') g.momentum = momentum
    })
  }

  /** Calls a batch event on every callback, synchronously. */
  #batchEvent(event: BatchEvent): void {
    for (const cb of this.#ordered) cb[event]?.(this as unknown as Learner)
  }

  /** Calls an event on every callback, awaiting each. */
  async #event(event: FitEvent): Promise<void> {
    for (const cb of this.#ordered) await cb[event]?.(this as unknown as Learner)
  }

  /** As #withEvents, synchronously, for the brackets inside a batch. */
  #withBatchEvents(
    bracket: 'Batch' | 'Backward' | 'Step',
    body: () => void,
    cancel: Cancel,
    ended?: () => void,
  ): void {
    let cancelled = false
    try {
      this.#batchEvent(`before${bracket}`)
      body()
    } catch (error) {
      if (!(error instanceof cancel)) throw error
      cancelled = true
    }
    ended?.()
    if (cancelled) this.#batchEvent(`afterCancel${bracket}`)
    this.#batchEvent(`after${bracket}`)
  }

  /**
   * fastai's _with_events: before, body, afterCancel on its cancel, after. `ended` runs once the
   * body is over, cancelled or not, before the after events: where a stopped fit resumes moves on.
   */
  async #withEvents(
    bracket: Bracket,
    body: () => Promise<void>,
    cancel: Cancel,
    ended?: () => void,
  ): Promise<void> {
    let cancelled = false
    try {
      await this.#event(`before${bracket}`)
      await body()
    } catch (error) {
      if (!(error instanceof cancel)) throw error
      cancelled = true
    }
    ended?.()
    if (cancelled) await this.#event(`afterCancel${bracket}`)
    await this.#event(`after${bracket}`)
  }

  /** One batch through the model: forward, loss, and in training backward and step. */
  #oneBatch(batch: LearnerBatch): void {
    scope(() => {
      this.xb = batch.x
      this.yb = batch.y
      this.#withBatchEvents(
        'Batch',
        () => {
          if (this.training) this.optimizer.zeroGrad()
          this.pred = this.model.forward(this.xb as Tensor)
          this.#batchEvent('afterPred')
          this.loss = this.lossFunc(this.pred, this.yb as Tensor, this.training ? 'mean' : 'sum')
          this.#batchEvent('afterLoss')
          if (!this.training) return
          this.lossValue = (this.loss as Tensor).item()
          this.#withBatchEvents('Backward', () => (this.loss as Tensor).backward(), CancelBackward)
          this.#withBatchEvents('Step', () => this.optimizer.step(), CancelStep)
        },
        CancelBatch,
        // From here a training batch counts as done: a fit stopped after it resumes at the next.
        () => {
          if (this.training) this.#batchesDone = this.iter + 1
        },
      )
      this.pred = null
      this.loss = null
    })
  }

  /** Every batch of an epoch of `loader`, from batch `first`, each released after use. */
  #allBatches(loader: EpochLoader, epoch: number, first: number): void {
    let index = first
    for (const batch of loader.epoch(epoch, first)) {
      this.iter = index++
      try {
        this.#oneBatch(batch)
      } finally {
        releaseBatch(loader, batch)
      }
    }
  }

  /** The validation bracket: outputs in `valid` (null when cancelled), loss and metrics recorded. */
  async #validation(): Promise<void> {
    this.valid = null
    await this.#withEvents(
      'Validate',
      async () => {
        noGrad(() => this.#allBatches(this.validLoader, 0, 0))
        this.valid = this.recorder.validOutputs()
      },
      CancelValidate,
    )
  }

  /**
   * One pass over the validation batches with the validation events: the outputs are left in
   * `valid`, the loss and metrics in the Recorder (validLoss, validMetrics).
   */
  async validate(): Promise<ValidOutputs> {
    await this.#validation()
    if (!this.valid)
      throw new ValidationError('A callback cancelled the validation (CancelValidate)')
    return this.valid
  }

  /**
   * Trains `epochs` epochs with the one-cycle policy. `lr` is one peak rate, or [low, high] spread
   * over the layer groups (discriminative rates). `from` resumes a stopped fit.
   * @example await learn.fitOneCycle(3, [1e-5, 1e-3], { stage: 'unfrozen' })
   */
  fitOneCycle(
    epochs: number,
    lr: number | [number, number],
    options: OneCycleOptions & { stage?: string; from?: FitPosition } = {},
  ): Promise<boolean> {
    return this.withCallbacks([new OneCycleSchedule(lr, options)], () =>
      this.fit(epochs, options.stage ?? 'fit', options.from),
    )
  }

  /**
   * Trains `epochs` epochs at the optimizer's current hyper-parameters (callbacks may change
   * them). Returns false when cancelled (see stoppedAt), true when it ran to its end or was
   * finished early. afterFit runs however the fit ends, errors included.
   */
  async fit(epochs: number, stage = 'fit', from?: FitPosition): Promise<boolean> {
    const start = from && from.stage === stage ? from : { stage, epoch: 0, batch: 0 }
    this.stage = stage
    this.nEpochs = epochs
    this.nIter = this.train.length
    this.stoppedAt = null
    this.finishedEarly = false
    this.resumedFrom = start.epoch > 0 || start.batch > 0 ? start : null
    // A fit stopped before its first epoch resumes where it was to start.
    this.epoch = start.epoch
    this.#batchesDone = start.batch
    this.#epochEnded = false
    this.recorder.forgetCurrent()
    try {
      try {
        await this.#event('beforeFit')
        for (let epoch = start.epoch; epoch < epochs; epoch++) {
          this.epoch = epoch
          await this.#oneEpoch(epoch === start.epoch ? start.batch : 0)
        }
      } catch (error) {
        if (!(error instanceof CancelFit)) throw error
        if (error.finished) this.finishedEarly = true
        else
          this.stoppedAt = this.#epochEnded
            ? { stage, epoch: this.epoch + 1, batch: 0 }
            : {
                stage,
                epoch: this.epoch,
                batch: this.#batchesDone,
                partial: this.recorder.partial(),
              }
        await this.#event('afterCancelFit')
      }
    } finally {
      await this.#event('afterFit')
    }
    return this.stoppedAt === null
  }

  /**
   * One epoch. Where a fit stopped during it resumes: at the next training batch; after its
   * training (done or cancelled), at its validation; from afterEpoch on, at the next epoch.
   */
  async #oneEpoch(first: number): Promise<void> {
    this.#batchesDone = first
    this.#epochEnded = false
    this.recorder.forgetCurrent()
    await this.#withEvents(
      'Epoch',
      async () => {
        await this.#withEvents(
          'Train',
          async () => this.#allBatches(this.train, this.epoch, first),
          CancelTrain,
          () => (this.#batchesDone = this.nIter),
        )
        await this.#validation()
      },
      CancelEpoch,
      () => (this.#epochEnded = true),
    )
  }

  /** Frees the optimizer's state tensors; the model stays the caller's. */
  dispose(): void {
    this.optimizer.dispose()
  }
}
