/**
 * Recorder (fastai's): the training loss of each epoch, the validation loss and metrics, time
 * and speed, one EpochRecord per finished epoch in `history`; optionally rewritten to a
 * metrics.jsonl file after each epoch. Every Learner has one.
 * @module
 */
import { softmax } from '../../torch/index.js'
import type { BatchInfo, Callback, Learner, ValidOutputs } from '../learner.js'
import { writeHistory, type EpochRecord, type FitPosition } from '../../run/run-folder.js'

/**
 * Records each epoch's training loss, validation loss and metrics, time and speed (fastai's
 * Recorder), and gathers the validation outputs; every Learner has one.
 */
export class Recorder implements Callback {
  /**
   * 50: after the callbacks that change the validation outputs (data-parallel gathering), and
   * after the checkpoint of an epoch, so that metrics.jsonl never lists an epoch not yet committed.
   */
  readonly order = 50
  /** One record per validated epoch, in order (a resumed run's earlier ones restored into it). */
  readonly history: EpochRecord[] = []
  /** The last validation's mean loss (also outside a fit). */
  validLoss = NaN
  /** The last validation's metrics by name (also outside a fit). */
  validMetrics: Record<string, number> = {}
  #file: string | null = null
  #inFit = false
  #current: EpochRecord | null = null
  #resume: FitPosition | null = null
  #began = 0
  #trainSeconds = 0
  #validBegan = 0
  #lossSum = 0
  #seen = 0
  #probabilities: number[] = []
  #labels: number[] = []
  #validLossSum = 0
  #classes = 1

  /**
   * Rewrites `dir`/metrics.jsonl from the history now (a resumed run's file is repaired after a
   * crash between a checkpoint and its metrics) and after every epoch.
   */
  async logTo(dir: string): Promise<void> {
    this.#file = dir
    await writeHistory(dir, this.history)
  }

  /** Notes that a fit runs (its validations make records) and where it resumes. */
  beforeFit(learn: Learner): void {
    this.#inFit = true
    this.#resume = learn.resumedFrom
  }

  /** Starts the epoch's clock and loss sums (from the checkpoint's, for a resumed epoch). */
  beforeEpoch(learn: Learner): void {
    // The epoch a stopped fit resumes in carries on from the sums saved with the checkpoint.
    const partial = this.#resume?.epoch === learn.epoch ? this.#resume.partial : undefined
    this.#resume = null
    this.#began = performance.now() - (partial?.seconds ?? 0) * 1000
    this.#lossSum = partial?.lossSum ?? 0
    this.#seen = partial?.seen ?? 0
  }

  /** Adds the batch's loss, weighted by its size, to the epoch's training loss. */
  afterStep(learn: Learner): void {
    const size = (learn.xb as NonNullable<Learner['xb']>).size(0)
    this.#lossSum += learn.lossValue * size
    this.#seen += size
  }

  /** Notes how long the epoch's training took. */
  afterTrain(): void {
    this.#trainSeconds = (performance.now() - this.#began) / 1000
  }

  /** Clears the validation outputs and starts the validation's clock. */
  beforeValidate(): void {
    this.#validBegan = performance.now()
    this.#probabilities = []
    this.#labels = []
    this.#validLossSum = 0
  }

  /** In validation, collects the batch's probabilities, labels and summed loss. */
  afterLoss(learn: Learner): void {
    if (learn.training) return
    const pred = (learn.pred as NonNullable<Learner['pred']>).float()
    this.#classes = pred.size(1)
    const probabilities = this.#classes === 1 ? pred.reshape(-1).sigmoid() : softmax(pred, 1)
    this.#probabilities.push(...probabilities.toArray())
    this.#labels.push(...(learn.yb as NonNullable<Learner['yb']>).toArray())
    this.#validLossSum += (learn.loss as NonNullable<Learner['loss']>).item()
  }

  /** What this process's validation pass saw. */
  validOutputs(): ValidOutputs {
    return {
      probabilities: Float32Array.from(this.#probabilities),
      labels: Float32Array.from(this.#labels),
      classes: this.#classes,
      lossSum: this.#validLossSum,
    }
  }

  /** Computes the validation loss and metrics and, in a fit, appends the epoch's record. */
  afterValidate(learn: Learner): void {
    // A cancelled validation (CancelValidate) leaves no outputs and makes no record.
    const valid = learn.valid
    if (!valid) return
    this.validLoss = valid.lossSum / valid.labels.length
    this.validMetrics = Object.fromEntries(learn.metrics.map((m) => [m.name, m.compute(valid)]))
    if (!this.#inFit) return
    const record: EpochRecord = {
      stage: learn.stage,
      epoch: learn.epoch,
      trainLoss: this.#lossSum / this.#seen,
      validLoss: this.validLoss,
      accuracy: NaN,
      errorRate: NaN,
      auc: NaN,
      ...this.validMetrics,
      seconds: this.#trainSeconds,
      imagesPerSec: this.#seen / this.#trainSeconds,
      validSeconds: (performance.now() - this.#validBegan) / 1000,
      // Resident memory after each epoch: a run whose memory grows shows it here.
      rssMb: Math.round(process.memoryUsage.rss() / 2 ** 20),
    }
    // A fit stopped between an epoch's validation and its end resumes by validating it again:
    // that record replaces the one saved with the stop, rather than listing the epoch twice.
    const last = this.history.at(-1)
    const again =
      learn.resumedFrom?.stage === learn.stage &&
      learn.resumedFrom.epoch === learn.epoch &&
      last?.stage === learn.stage &&
      last.epoch === learn.epoch
    if (again) this.history[this.history.length - 1] = record
    else this.history.push(record)
    this.#current = record
  }

  /** Rewrites metrics.jsonl from the history, when logging to a folder (logTo). */
  async afterEpoch(): Promise<void> {
    if (this.#file) await writeHistory(this.#file, this.history)
  }

  /** Notes that the fit is over: later validations make no record. */
  afterFit(): void {
    this.#inFit = false
  }

  /**
   * The current epoch's record once it has been validated: null before, and for an epoch whose
   * validation was cancelled. It stays after the fit's last epoch, for afterFit.
   */
  get current(): EpochRecord | null {
    return this.#current
  }

  /**
   * Forgets the current epoch's record: the Learner calls it as each fit and epoch begin, whatever
   * callbacks a cancel skips, so that `current` is never an earlier epoch's.
   */
  forgetCurrent(): void {
    this.#current = null
  }

  /** The last finished epoch's record. */
  get last(): EpochRecord | undefined {
    return this.history.at(-1)
  }

  /** Progress of the training batch just done. */
  batchInfo(learn: Learner): BatchInfo {
    return {
      stage: learn.stage,
      epoch: learn.epoch,
      epochs: learn.nEpochs,
      batch: learn.iter + 1,
      batches: learn.nIter,
      loss: learn.lossValue,
      imagesPerSec: this.#seen / ((performance.now() - this.#began) / 1000),
    }
  }

  /** The current epoch's sums so far, kept with a mid-epoch checkpoint. */
  partial(): NonNullable<FitPosition['partial']> {
    return {
      lossSum: this.#lossSum,
      seen: this.#seen,
      seconds: (performance.now() - this.#began) / 1000,
    }
  }
}
